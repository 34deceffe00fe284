"""ament_python package robot_rl; its Python module is robot_rl_ros (the core is robot_rl)."""

from glob import glob

from setuptools import find_packages, setup

package_name = 'robot_rl'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='robot_rl maintainers',
    maintainer_email='robot-rl@example.com',
    description='ROS 2 adapter nodes and launch files of robot_rl.',
    license='Apache-2.0',
    tests_require=['pytest'],
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'actor_node = robot_rl_ros.actor_node:main',
            'learner_node = robot_rl_ros.learner_node:main',
            'twin_node = robot_rl_ros.twin_node:main',
            'teleop_node = robot_rl_ros.teleop_node:main',
            'reward_node = robot_rl_ros.reward_node:main',
            'reset_node = robot_rl_ros.reset_node:main',
            'dashboard_node = robot_rl_ros.dashboard_node:main',
            'bag_record = robot_rl_ros.bag_record:main',
            'bag_play = robot_rl_ros.bag_play:main',
        ],
    },
)
