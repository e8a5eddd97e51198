// maskwatch web page: upload (photo or video), live webcam over a WebSocket, server camera (MJPEG).
"use strict";
const COLORS = { with_mask: "#4bb43c", without_mask: "#e62828", mask_incorrect: "#ff9600" };
const LABELS = ["with_mask", "without_mask", "mask_incorrect"];
const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
keyInput.value = localStorage.getItem("maskwatch-key") || "";
keyInput.addEventListener("change", () => { localStorage.setItem("maskwatch-key", keyInput.value); init(); });
const headers = () => (keyInput.value ? { "X-API-Key": keyInput.value } : {});

// --- tabs ---------------------------------------------------------------------------------
document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => {
  document.querySelectorAll("nav button, .panel").forEach((e) => e.classList.remove("active"));
  b.classList.add("active");
  $(b.dataset.tab).classList.add("active");
  if (b.dataset.tab === "camera") $("camera-img").src = "/v1/stream.mjpg" + (keyInput.value ? "?api_key=" + encodeURIComponent(keyInput.value) : "");
}));

function drawFaces(ctx, faces, sx = 1, sy = 1) {
  const lw = Math.max(2, Math.round(ctx.canvas.width / 400));
  ctx.lineWidth = lw;
  ctx.font = `${Math.max(12, Math.round(ctx.canvas.width / 60))}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  for (const f of faces) {
    const x = f.x1 * sx, y = f.y1 * sy, w = (f.x2 - f.x1) * sx, h = (f.y2 - f.y1) * sy;
    ctx.strokeStyle = ctx.fillStyle = COLORS[f.label] || "#ccc";
    ctx.strokeRect(x, y, w, h);
    const text = `${f.label} ${f.score.toFixed(2)}`;
    const tw = ctx.measureText(text).width + 6, th = parseInt(ctx.font, 10) + 4;
    const ty = y - th > 0 ? y : y + h + th;
    ctx.fillRect(x - lw / 2, ty - th, tw, th);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x + 3, ty - 2);
  }
}

function showCounts(el, counts) {
  el.innerHTML = LABELS.map((l) => `<span class="chip ${l}" data-label="${l}">${l} ${counts[l] || 0}</span>`).join("");
}

function showTable(faces) {
  const body = $("faces-table").querySelector("tbody");
  body.innerHTML = faces.map((f, i) => `<tr><td>${i + 1}</td><td>${f.label}</td><td>${f.score.toFixed(3)}</td>` +
    `<td>${[f.x1, f.y1, f.x2, f.y2].map((v) => v.toFixed(0)).join(", ")}</td></tr>`).join("");
  $("faces-table").hidden = faces.length === 0;
}

async function errorText(res) {
  try { const j = await res.json(); return j.error ? j.error.message : res.statusText; } catch { return res.statusText; }
}

// --- upload -------------------------------------------------------------------------------
// a new upload (and above all a failed one) never leaves the previous file's boxes on screen
function clearResult() {
  $("photo-canvas").hidden = true;
  const video = $("video-file");
  video.pause(); video.onplay = video.onseeked = video.onloadeddata = null;
  if (video.src) { URL.revokeObjectURL(video.src); video.removeAttribute("src"); video.load(); }
  $("video-wrap").hidden = true;
  $("upload-counts").innerHTML = "";
  showTable([]);
}

async function handleFile(file) {
  const status = $("upload-status");
  clearResult();
  status.textContent = `Analysing ${file.name}…`;
  const form = new FormData();
  form.append("file", file);
  const isVideo = file.type.startsWith("video/");
  let res;
  try {
    res = await fetch(isVideo ? "/v1/detect/video?stride=3" : "/v1/detect", { method: "POST", body: form, headers: headers() });
  } catch (err) { status.textContent = `Error: the server cannot be reached (${err.message})`; return; }
  if (!res.ok) { status.textContent = `Error ${res.status}: ${await errorText(res)}`; return; }
  const result = await res.json();
  if (isVideo) return showVideo(file, result);
  $("video-wrap").hidden = true;
  const img = new Image();
  img.onload = () => {
    const canvas = $("photo-canvas");
    // small photos are drawn larger so that labels on small faces stay readable
    const scale = Math.max(1, Math.min(3, 900 / img.naturalWidth));
    canvas.width = Math.round(img.naturalWidth * scale); canvas.height = Math.round(img.naturalHeight * scale);
    canvas.hidden = false;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    drawFaces(ctx, result.faces, scale, scale);
    URL.revokeObjectURL(img.src);
  };
  img.src = URL.createObjectURL(file);
  showCounts($("upload-counts"), result.counts);
  showTable(result.faces);
  status.textContent = `${result.faces.length} face(s) in ${result.latency_ms} ms · ${result.width}×${result.height}`;
}

function showVideo(file, result) {
  $("photo-canvas").hidden = true;
  $("video-wrap").hidden = false;
  const video = $("video-file"), overlay = $("video-overlay");
  video.src = URL.createObjectURL(file);
  const draw = () => {
    overlay.width = video.videoWidth || result.width; overlay.height = video.videoHeight || result.height;
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    let best = result.frames[0];
    for (const f of result.frames) if (f.t <= video.currentTime + 1e-3) best = f;
    if (best) { drawFaces(ctx, best.faces); showTable(best.faces); }
    if (!video.paused && !video.ended) requestAnimationFrame(draw);
  };
  video.onplay = draw; video.onseeked = draw; video.onloadeddata = draw;
  showCounts($("upload-counts"), result.counts);
  $("upload-status").textContent = `${result.frames_analysed} frame(s) analysed (every ${result.stride}) · face counts are per frame, not unique people` +
    (result.truncated ? ` · ${result.truncated}` : "");
}

const drop = document.querySelector(".drop");
$("file").addEventListener("change", (e) => e.target.files[0] && handleFile(e.target.files[0]));
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (e) => e.dataTransfer.files[0] && handleFile(e.dataTransfer.files[0]));

// --- live webcam: frames over a WebSocket, one in flight at a time --------------------------
let stream = null, socket = null, frames = 0, fpsTimer = null;
async function startLive() {
  const status = $("live-status");
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) { status.textContent = `Cannot open the webcam: ${err.message}`; return; }
  const video = $("live-video"), overlay = $("live-overlay");
  video.srcObject = stream;
  await video.play();
  const grab = document.createElement("canvas");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${proto}://${location.host}/v1/ws` + (keyInput.value ? "?api_key=" + encodeURIComponent(keyInput.value) : ""));
  socket.binaryType = "arraybuffer";
  const send = () => {
    if (!socket || socket.readyState !== WebSocket.OPEN || !video.videoWidth) return;
    grab.width = video.videoWidth; grab.height = video.videoHeight;
    grab.getContext("2d").drawImage(video, 0, 0);
    grab.toBlob((blob) => blob && socket && socket.readyState === WebSocket.OPEN && socket.send(blob), "image/jpeg", 0.8);
  };
  socket.onopen = () => { status.textContent = "Live"; send(); };
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.error) { status.textContent = msg.error; setTimeout(send, 200); return; }
    overlay.width = msg.width; overlay.height = msg.height;
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    drawFaces(ctx, msg.faces);
    showCounts($("live-counts"), msg.counts);
    overlay.dataset.faces = msg.faces.length;
    frames += 1;
    send();
  };
  socket.onclose = (e) => { status.textContent = e.code === 4401 ? "Wrong or missing API key" : "Disconnected"; };
  fpsTimer = setInterval(() => { $("live-fps").textContent = `${frames.toFixed(1)} FPS`; frames = 0; }, 1000);
  $("live-start").disabled = true; $("live-stop").disabled = false;
}
function stopLive() {
  if (socket) { socket.onclose = null; socket.close(); }  // a chosen stop is not a disconnection
  if (stream) stream.getTracks().forEach((t) => t.stop());
  clearInterval(fpsTimer);
  socket = stream = null;
  $("live-start").disabled = false; $("live-stop").disabled = true;
  $("live-status").textContent = "Stopped";
}
$("live-start").addEventListener("click", startLive);
$("live-stop").addEventListener("click", stopLive);

// --- watch: live counts and latest violations from the events database ---------------------
let watchTimer = null;
const pct = (v) => (v === null || v === undefined ? "-" : `${(100 * v).toFixed(1)}%`);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const withKey = (url) => url + (keyInput.value ? "?api_key=" + encodeURIComponent(keyInput.value) : "");
async function refreshWatch() {
  let res;
  try { res = await fetch("/v1/watch/summary?since=today&events=12", { headers: headers() }); } catch (err) { res = null; }
  if (!res || !res.ok) {
    // e.g. 503 while the events database is unreachable: say so, and show no stale counts
    $("watch-compliance").textContent = res ? `Error ${res.status}: ${await errorText(res)}` : "Error: the server cannot be reached";
    $("watch-counts").innerHTML = "";
    $("watch-cameras").querySelector("tbody").innerHTML = "";
    $("watch-events").innerHTML = "";
    $("watch-sinks").querySelector("tbody").innerHTML = "";
    return;
  }
  const s = await res.json();
  showCounts($("watch-counts"), s.total.per_label);
  $("watch-compliance").textContent = `${s.total.people} people, ${s.total.violations} violations, compliance ${pct(s.total.compliance)}`;
  const names = new Set([...s.cameras.map((c) => c.name), ...Object.keys(s.per_camera)]);
  $("watch-cameras").querySelector("tbody").innerHTML = [...names].sort().map((n) => {
    const c = s.cameras.find((x) => x.name === n) || {}, k = s.per_camera[n] || { people: 0, violations: 0 };
    return `<tr data-camera="${esc(n)}"><td>${esc(n)}</td><td class="state ${esc(c.state || "")}">${esc(c.state || "-")}</td>` +
      `<td>${k.people}</td><td>${k.violations}</td><td>${pct(k.compliance)}</td>` +
      `<td>${c.fps !== undefined ? c.fps.toFixed(1) : "-"}</td><td>${c.reconnects ?? "-"}</td></tr>`;
  }).join("");
  const when = (t) => (t ? new Date(/(Z|[+-]\d\d:\d\d)$/.test(t) ? t : t + "Z").toLocaleTimeString() : "-");
  $("watch-sinks").querySelector("tbody").innerHTML = (s.sinks || []).map((k) =>
    `<tr data-sink="${esc(k.sink)}"><td>${esc(k.sink)}</td><td>${esc(k.type || "-")}</td><td>${esc(k.camera || "-")}</td>` +
    `<td>${when(k.last_delivery)}</td><td class="pending">${k.pending}</td><td>${k.failed}</td>` +
    `<td class="error">${esc(k.last_error || "")}</td></tr>`).join("") ||
    "<tr><td colspan='7' class='status'>No sinks registered (start watch with --webhook, --mqtt or --say-dir).</td></tr>";
  $("watch-events").innerHTML = s.events.map((e) =>
    `<figure class="event ${esc(e.label)}" data-id="${esc(e.id)}"><a href="${withKey(e.frame_url)}" target="_blank">` +
    `<img src="${withKey(e.face_url)}" alt="face"></a><figcaption><b>${esc(e.label)}</b> ${e.score.toFixed(2)}<br>` +
    `${esc(e.camera)} #${e.track_id}<br>${new Date(/(Z|[+-]\d\d:\d\d)$/.test(e.time) ? e.time : e.time + "Z").toLocaleTimeString()}</figcaption></figure>`).join("")
    || "<p class='status'>None yet.</p>";
}
$("test-alert").addEventListener("click", async () => {
  $("test-alert-status").textContent = "sending...";
  let res;
  try { res = await fetch("/v1/watch/test-alert", { method: "POST", headers: headers() }); } catch (err) { res = null; }
  $("test-alert-status").textContent = !res ? "Error: the server cannot be reached"
    : res.ok ? (await res.json()).message : `Error ${res.status}: ${await errorText(res)}`;
  refreshWatch();
});
document.querySelector('[data-tab="watch"]').addEventListener("click", () => {
  refreshWatch();
  clearInterval(watchTimer);
  watchTimer = setInterval(() => { if ($("watch").classList.contains("active")) refreshWatch(); }, 2000);
});

// --- start-up: model name, key box, server camera tab -----------------------------------------
async function init() {
  const res = await fetch("/v1/info", { headers: headers() });
  if (res.status === 401) { $("key-box").hidden = false; $("model").textContent = "API key needed"; return; }
  const info = await res.json();
  $("key-box").hidden = !info.auth;
  $("model").textContent = info.model_version;
  $("tab-camera").hidden = !info.source;
  $("tab-watch").hidden = !info.watch;
}
init();
