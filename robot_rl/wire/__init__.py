"""The actor ↔ learner wire format: versioned messages (protocol) and the array codec (fields).

Below ``runtime/`` so that every part that sends or reads a message (runtime, the reward
process service, demo recording) shares it without importing the runtime loops.
"""
