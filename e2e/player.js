// Plays one manifest in one real player and records what a viewer would notice, in window.e2e.
//
// Query: player=shaka|dashjs|hlsjs, manifest=URL (same origin), clearkeys={"<kid hex>": "<key hex>"}
// (ClearKey for DASH cenc; without it, HLS cbcs and aes128 fetch their keys from the playlists' key
// URIs), seconds=N (media seconds to play, default 6), timeout=MS (give up, default 30000).
//
// The page loads the player library, sets e2e.ready and waits for window.e2eGo() from the driver, which
// first throttles the page's network (run.mjs); timings count from e2eGo. Every player starts with a
// low bandwidth estimate, so on the lowest rung, and its own ABR climbs once it has measured the
// network. The switch is judged by the frame size actually presented (requestVideoFrameCallback), not
// only by the player's own events.
'use strict';

(() => {
  const q = new URLSearchParams(location.search);
  const which = q.get('player');
  const manifest = q.get('manifest');
  const clearkeys = q.has('clearkeys') ? JSON.parse(q.get('clearkeys')) : null;
  const seconds = Number(q.get('seconds') || 6);
  const timeoutMs = Number(q.get('timeout') || 30000);
  const LOW_ESTIMATE_BPS = 100e3;

  const { load, snapshot, hexToB64url, measureCaptures, clock } = window.e2eCommon; // e2e/common.js
  const video = document.getElementById('video');
  const pageClock = clock();
  const ms = pageClock.ms;
  // Resolved by the driver once the network is set up; the players load nothing before.
  const go = () => pageClock.go(e2e, timeoutMs, () => finish('timeout'));
  const e2e = {
    player: which,
    version: null,
    userAgent: navigator.userAgent,
    ready: false,
    done: false,
    doneReason: null,
    fatal: null, // the first error the player (or the video element) could not recover from
    errors: [], // recoverable errors the player reported
    switches: [], // the player's own reports of the rendition it chose (its first choice too): {ms, to: height, what}
    firstFrameMs: null,
    frameSizes: [], // each distinct presented frame size, in order: {ms, mediaTime, width, height}
    codec: null, // the video codec the player chose (its own report)
    captures: [], // the driver's screenshots, measured: {mediaTime, mean, std, diffFromFirst} (luma 0-255)
  };
  window.e2e = e2e;

  const fail = (what) => {
    if (e2e.fatal === null) e2e.fatal = `${ms()} ms: ${what}`;
    finish('fatal error');
  };
  const finish = (reason) => {
    if (e2e.done) return;
    Object.assign(e2e, {
      doneReason: reason,
      elapsedMs: ms(),
      ...snapshot(video),
      done: true,
    });
  };

  // --- what the viewer sees ---------------------------------------------------------------------------
  // The driver (run.mjs) screenshots the page about once a second and hands each PNG to e2eCapture.
  measureCaptures(video, e2e);

  const onFrame = (now, meta) => {
    if (e2e.done) return;
    if (e2e.firstFrameMs === null) e2e.firstFrameMs = ms();
    const last = e2e.frameSizes[e2e.frameSizes.length - 1];
    if (!last || last.width !== meta.width || last.height !== meta.height) {
      e2e.frameSizes.push({ ms: ms(), mediaTime: meta.mediaTime, width: meta.width, height: meta.height });
    }
    check();
    if (!e2e.done) video.requestVideoFrameCallback(onFrame);
  };
  // Done once enough media has played and the presented size has changed, or near the end without a
  // change. timeupdate also ends it when no video frame is ever presented (audio alone).
  const check = () => {
    if (video.currentTime >= seconds && e2e.frameSizes.length > 1) finish('played and switched');
    else if (video.currentTime >= Math.max(seconds, video.duration - 1)) finish('played without a switch');
  };
  video.requestVideoFrameCallback(onFrame);
  video.addEventListener('timeupdate', check);
  video.addEventListener('error', () => fail(`video element: ${video.error && video.error.code}: ${video.error && video.error.message}`));
  video.addEventListener('ended', () => finish('ended'));


  // --- the players --------------------------------------------------------------------------------------
  async function shakaPlay() {
    await load('node_modules/shaka-player/dist/shaka-player.compiled.js');
    shaka.polyfill.installAll();
    e2e.version = shaka.Player.version;
    const player = new shaka.Player();
    await player.attach(video);
    player.configure({
      abr: {
        defaultBandwidthEstimate: LOW_ESTIMATE_BPS,
        useNetworkInformation: false,
        switchInterval: 1,
      },
      ...(clearkeys ? { drm: { clearKeys: clearkeys } } : {}),
    });
    player.addEventListener('error', (ev) => {
      const err = ev.detail;
      // Shaka promises shaka.util.Error here, but passes on others as they are: a wrong AES-128 key
      // arrives as WebCrypto's DOMException (OperationError), and that stream's fetching has stopped.
      if (!(err instanceof shaka.util.Error)) return fail(`shaka: ${err && err.name}: ${err && err.message}`);
      const text = `shaka ${err.code} (category ${err.category}, severity ${err.severity}): ${String(JSON.stringify(err.data)).slice(0, 300)}`;
      if (err.severity === shaka.util.Error.Severity.CRITICAL) fail(text);
      else e2e.errors.push(text);
    });
    player.addEventListener('adaptation', (ev) => {
      const to = ev.newTrack ? ev.newTrack.height : null;
      e2e.switches.push({ ms: ms(), to, what: `adaptation ${ev.oldTrack && ev.oldTrack.height}p -> ${to}p` });
    });
    await go();
    try {
      await player.load(manifest);
    } catch (err) {
      fail(`shaka load ${err.code}: ${String(JSON.stringify(err.data)).slice(0, 300)}`);
      return;
    }
    const active = player.getVariantTracks().find((t) => t.active);
    e2e.codec = active ? active.videoCodec : null;
    video.play().catch((err) => fail(`play(): ${err}`));
  }

  async function dashjsPlay() {
    await load('node_modules/dashjs/dist/modern/umd/dash.all.min.js');
    const player = dashjs.MediaPlayer().create();
    e2e.version = player.getVersion();
    player.updateSettings({
      debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING },
      streaming: { abr: { initialBitrate: { video: LOW_ESTIMATE_BPS / 1000 }, autoSwitchBitrate: { video: true } } },
    });
    if (clearkeys) {
      const keys = Object.fromEntries(Object.entries(clearkeys).map(([kid, key]) => [hexToB64url(kid), hexToB64url(key)]));
      player.setProtectionData({ 'org.w3.clearkey': { clearkeys: keys } });
    }
    const ev = dashjs.MediaPlayer.events;
    player.on(ev.ERROR, (e) => fail(`dash.js error ${JSON.stringify(e.error || e).slice(0, 300)}`));
    player.on(ev.PLAYBACK_ERROR, (e) => fail(`dash.js playback error ${JSON.stringify(e.error || e).slice(0, 300)}`));
    player.on(ev.QUALITY_CHANGE_RENDERED, (e) => {
      if (e.mediaType !== 'video') return;
      const to = e.newRepresentation || {};
      e2e.switches.push({ ms: ms(), to: to.height || null, what: `quality rendered ${to.height}p` });
    });
    player.on(ev.STREAM_INITIALIZED, () => {
      const rep = player.getCurrentRepresentationForType && player.getCurrentRepresentationForType('video');
      e2e.codec = rep ? rep.codecs : null;
    });
    await go();
    player.initialize(video, manifest, true);
  }

  async function hlsjsPlay() {
    await load('node_modules/hls.js/dist/hls.min.js');
    e2e.version = Hls.version;
    if (!Hls.isSupported()) return fail('hls.js: MediaSource unsupported');
    const hls = new Hls({ startLevel: 0, abrEwmaDefaultEstimate: LOW_ESTIMATE_BPS, debug: false });
    hls.on(Hls.Events.ERROR, (_, d) => {
      const text = `hls.js ${d.type} ${d.details}${d.reason ? `: ${d.reason}` : ''}${d.error ? `: ${d.error.message}` : ''}`;
      if (d.fatal) fail(text);
      else e2e.errors.push(text);
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => {
      const level = hls.levels[d.level];
      e2e.codec = level.videoCodec || e2e.codec;
      e2e.switches.push({ ms: ms(), to: level.height, what: `level switched ${level.height}p` });
    });
    await go();
    hls.loadSource(manifest);
    hls.attachMedia(video);
  }

  const players = { shaka: shakaPlay, dashjs: dashjsPlay, hlsjs: hlsjsPlay };
  if (!players[which]) fail(`unknown player ${which}`);
  else players[which]().catch((err) => fail(`${which}: ${err && err.stack ? err.stack : err}`));
})();
