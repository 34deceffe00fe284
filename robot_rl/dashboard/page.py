"""The dashboard page: one self-contained HTML file (no CDN; the cell may be offline)."""

from __future__ import annotations

INDEX_HTML = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>robot_rl dashboard</title>
<style>
body{font-family:system-ui,sans-serif;margin:1em;background:#111;color:#eee}
#cams img{width:256px;height:256px;image-rendering:pixelated;margin:4px;border:1px solid #444}
button{margin:3px;padding:6px 12px;font-size:14px}
#estop{background:#c00;color:#fff;font-weight:bold}
#mode{font-size:22px;font-weight:bold}
td{padding:2px 10px}
svg{background:#222;margin:4px}
#human_reset{background:#a60;color:#fff;padding:8px;margin:6px 0;font-size:18px}
#continue{font-size:18px;font-weight:bold}
#safety td{font-family:monospace}
</style></head><body>
<div>mode: <span id="mode">?</span> <span id="reason"></span> &middot; <span id="phase"></span></div>
<table><tr><td>episode</td><td id="episode"></td><td>return</td><td id="return"></td>
<td>last success</td><td id="success"></td></tr>
<tr><td>intervention rate</td><td id="irate"></td><td>learner step</td><td id="updates"></td>
<td>weights version</td><td id="weights"></td></tr>
<tr><td>env steps</td><td id="env_steps"></td><td>success (last 20)</td><td id="srate"></td>
<td>eval success</td><td id="eval"></td></tr></table>
<div id="human_reset" hidden>reset: <span id="human_reset_message"></span>
(waiting <span id="human_reset_waiting"></span> s) <button id="continue">continue</button></div>
<div>safety layer: <span id="safety_summary">-</span>
<table id="safety"><tbody id="safety_events"></tbody></table></div>
<div id="cams"></div>
<div>
<button id="estop">E-STOP</button><button id="release_estop">release e-stop</button>
<button id="pause">pause</button><button id="resume">resume</button><button id="reset">reset</button>
<button id="takeover">take over</button><button id="handback">hand back</button>
</div><div>
<button id="label_current_success">current: success</button>
<button id="label_current_failure">current: failure</button>
<button id="label_last_success">last: success</button>
<button id="label_last_failure">last: failure</button>
<label><input type="checkbox" id="teleop"> browser teleop (gamepad, or keys w/s a/d r/f, space = gripper)</label>
</div>
<div><svg id="chart_success" width="400" height="120"></svg>
<svg id="chart_irate" width="400" height="120"></svg></div>
<div id="log"></div>
<script>
const token = new URLSearchParams(location.search).get("token") || "";
const hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/json"};
window.__frames = {}; window.__latencies = []; window.__hashes = {}; window.__status = null;
const $ = (id) => document.getElementById(id);
async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: hdr, body: body ? JSON.stringify(body) : null});
  $("log").textContent = path + " -> " + r.status;
  return r;
}
for (const c of ["estop","release_estop","pause","resume","reset","takeover","handback","continue"])
  $(c).onclick = () => post("/api/control/" + c);
for (const ep of ["current","last"]) for (const ok of [true,false])
  $("label_" + ep + "_" + (ok ? "success" : "failure")).onclick = () => post("/api/label", {episode: ep, success: ok});
function hash(bytes) { let h = 0; for (let i = 0; i < bytes.length; i += 7) h = (h * 31 + bytes[i]) | 0; return h; }
function onFrame(buf) {
  const view = new DataView(buf); const n = view.getUint32(0, true);
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  const jpeg = new Uint8Array(buf, 4 + n);
  let img = $("cam_" + head.camera);
  if (!img) { img = document.createElement("img"); img.id = "cam_" + head.camera; img.alt = head.camera; $("cams").appendChild(img); }
  const url = URL.createObjectURL(new Blob([jpeg], {type: "image/jpeg"}));
  img.onload = () => {
    URL.revokeObjectURL(url);
    window.__latencies.push(Date.now() - head.t * 1000);
    if (window.__latencies.length > 5000) window.__latencies.shift();
    window.__frames[head.camera] = (window.__frames[head.camera] || 0) + 1;
    const hs = window.__hashes[head.camera] || []; hs.push(hash(jpeg)); window.__hashes[head.camera] = hs.slice(-10);
  };
  img.src = url;
}
function onStatus(s) {
  window.__status = s;
  $("mode").textContent = s.mode; $("reason").textContent = s.pause_reason || "";
  $("phase").textContent = s.phase || "";
  $("episode").textContent = s.episode; $("return").textContent = s.episode_return.toFixed(2);
  $("success").textContent = s.last_success === null ? "-" : s.last_success;
  $("irate").textContent = (100 * s.intervention_rate).toFixed(0) + " %";
  $("updates").textContent = s.learner_updates; $("weights").textContent = s.weights_version;
  $("env_steps").textContent = s.env_steps;
  $("srate").textContent = s.success_rate === null ? "-" : (100 * s.success_rate).toFixed(0) + " %";
  $("eval").textContent = s.eval_success_rate === null ? "-" : `${(100 * s.eval_success_rate).toFixed(0)} % at ${s.eval_env_steps} steps`;
  const hr = s.human_reset;
  $("human_reset").hidden = !(hr && hr.pending);
  if (hr && hr.pending) { $("human_reset_message").textContent = hr.message; $("human_reset_waiting").textContent = hr.waiting_s.toFixed(0); }
  const sf = s.safety;
  if (sf) {
    $("safety_summary").textContent = `held ${sf.held} of ${sf.commands} commands, e-stop ${sf.estop_latched ? "LATCHED" : "clear"}, e-stops so far: ${sf.estop_triggered || 0}`;
    const rows = Object.keys(sf).filter((k) => k.startsWith("event/")).sort()
      .map((k) => `<tr><td>${k.slice(6)}</td><td id="safety_${k.slice(6).replace(/[^a-z0-9_]/gi, "_")}">${sf[k]}</td></tr>`).join("");
    if ($("safety_events").innerHTML !== rows) $("safety_events").innerHTML = rows;
  }
}
function chart(svg, ys, label) {
  const w = svg.width.baseVal.value, h = svg.height.baseVal.value, k = 10;
  const sm = ys.map((_, i) => { const a = ys.slice(Math.max(0, i - k + 1), i + 1); return a.reduce((p, q) => p + q, 0) / a.length; });
  const pts = sm.map((y, i) => `${(i / Math.max(1, sm.length - 1)) * w},${h - y * (h - 14)}`).join(" ");
  svg.innerHTML = `<text x="4" y="12" fill="#aaa" font-size="11">${label}</text><polyline fill="none" stroke="#4af" stroke-width="2" points="${pts}"/>`;
}
async function refreshCharts() {
  const r = await fetch("/api/history", {headers: hdr}); if (!r.ok) return;
  const h = await r.json();
  chart($("chart_success"), h.success, "success rate (10-episode mean)");
  chart($("chart_irate"), h.intervention_rate, "intervention rate");
}
setInterval(refreshCharts, 2000);
const keys = {};
addEventListener("keydown", (e) => { keys[e.key] = true; if (e.key === " ") gripper = -gripper; });
addEventListener("keyup", (e) => { keys[e.key] = false; });
let gripper = -1, ws = null;
function teleopMsg() {
  const pads = navigator.getGamepads ? navigator.getGamepads() : [];
  const pad = [...pads].find((p) => p);
  let axes = [0, 0, 0, 0, 0, 0], intervene = false;
  if (pad) { axes = [pad.axes[0] || 0, -(pad.axes[1] || 0), -(pad.axes[3] || 0), 0, 0, pad.axes[2] || 0];
    intervene = !!(pad.buttons[5] && pad.buttons[5].pressed); if (pad.buttons[0] && pad.buttons[0].pressed) gripper = 1; if (pad.buttons[1] && pad.buttons[1].pressed) gripper = -1; }
  const k = (a, b) => (keys[a] ? 1 : 0) - (keys[b] ? 1 : 0);
  axes[0] += k("w", "s"); axes[1] += k("a", "d"); axes[2] += k("r", "f");
  return {type: "teleop", axes, gripper, intervene};
}
function connect() {
  ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (ev) => { if (typeof ev.data === "string") onStatus(JSON.parse(ev.data)); else onFrame(ev.data); };
  ws.onclose = () => setTimeout(connect, 500);
}
$("teleop").onchange = () => { if (!$("teleop").checked && ws && ws.readyState === 1) ws.send(JSON.stringify({type: "teleop_off"})); };
setInterval(() => { if ($("teleop").checked && ws && ws.readyState === 1) ws.send(JSON.stringify(teleopMsg())); }, 50);
connect(); refreshCharts();
</script></body></html>
"""
