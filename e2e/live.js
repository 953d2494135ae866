// Plays one live channel in one real player and records what a live viewer would notice, in window.e2e.
//
// Query: player=shaka|dashjs|hlsjs, manifest=URL (same origin), clearkeys={"<kid hex>": "<key hex>"}
// (keys handed to the player; without them an encrypted channel's players get theirs from the channel:
// the MPD's ClearKey Laurl, the playlists' key URIs, and licence=URL for hls.js), seconds=N (wall seconds
// to watch at the live edge once the first frame is on screen, default 10), seekBack=S (then seek S
// seconds back into the DVR window and watch seekWatch seconds, default 4), awaitEnd=1 (then go on
// playing until the channel ends: the driver stops it once every page says phase "awaiting-end"),
// timeout=MS (give up, default 60000), config=JSON (more player settings, for experiments), debug=1
// (Shaka's debug build: readable stacks).
//
// Every player runs in its low-latency mode: hls.js with lowLatencyMode (its target is the playlist's
// PART-HOLD-BACK) and catch-up by playback rate up to 1.5x; dash.js in low-latency mode (it turns that on
// itself for availabilityTimeComplete=false) with its live delay from the MPD's ServiceDescription and
// liveCatchup on; Shaka Player with streaming.lowLatencyMode (DASH: the ServiceDescription's target, see
// shakaPlay for two settings; HLS: it starts PART-HOLD-BACK back).
//
// Latency, sampled every SAMPLE_MS once playing: Date.now() (the packager's machine and clock) less the
// wall-clock time of the frame at the playhead. HLS: the playhead's EXT-X-PROGRAM-DATE-TIME (hls.js
// playingDate, Shaka getPlayheadTimeAsDate). DASH: the MPD's availabilityStartTime + Period@start +
// currentTime (the page reads the MPD itself: "mpdLatency"); Shaka's getPlayheadTimeAsDate and dash.js's
// getCurrentLiveLatency (on its own UTCTiming-synced clock) are kept beside it as "playerLatency".
'use strict';

(() => {
  const q = new URLSearchParams(location.search);
  const which = q.get('player');
  const manifest = q.get('manifest');
  const isDash = /\.mpd(\?|$)/.test(manifest || '');
  const clearkeys = q.has('clearkeys') ? JSON.parse(q.get('clearkeys')) : null;
  const licence = q.get('licence'); // an encrypted channel's ClearKey licence URL, for hls.js
  const watchS = Number(q.get('seconds') || 10);
  const seekBack = Number(q.get('seekBack') || 0);
  const seekWatchS = Number(q.get('seekWatch') || 4);
  const awaitEnd = q.get('awaitEnd') === '1';
  const timeoutMs = Number(q.get('timeout') || 60000);
  // config=JSON: more player settings on top of the page's (player.configure, updateSettings, new Hls):
  // for trying a setting without editing the page.
  const extraConfig = q.has('config') ? JSON.parse(q.get('config')) : null;
  const SAMPLE_MS = 250;
  const END_QUIET_MS = 6000; // awaiting the end: the playhead still this long after the channel ended = stopped

  const { load, snapshot, hexToB64url, measureCaptures, clock } = window.e2eCommon; // e2e/common.js
  const video = document.getElementById('video');
  const pageClock = clock();
  const ms = pageClock.ms;
  // Resolved by the driver once the network is set up; the players load nothing before.
  const go = () => pageClock.go(e2e, timeoutMs, () => finish('timeout'));
  const e2e = {
    player: which,
    live: true,
    version: null,
    ready: false,
    done: false,
    doneReason: null,
    phase: 'loading', // loading, live, seek, dvr, awaiting-end, then done
    fatal: null,
    errors: [],
    firstFrameMs: null,
    samples: [], // {ms, phase, wall, currentTime, latency, mpdLatency, playerLatency, rate, buffer, height}
    stalls: [], // waiting after the first frame (not while seeking): {ms, phase, currentTime, durationMs}
    rates: [], // playback rate changes: {ms, rate}
    switches: [], // the player's reports of the rendition it chose: {ms, to: height}
    seek: null, // {fromTime, toTime, fromDate, seekedMs, firstFrameMs, dateAfter, advancedS}
    ended: null, // {ms, how: "ended" | "stopped", currentTime}
    mpd: null, // {availabilityStartTime (epoch ms), periodStart (s)} as this page read them
    targetLatency: null, // what the player aims at, by its own report
    captures: [],
  };
  window.e2e = e2e;
  let player = null; // the running player, whichever it is
  let frameDate = () => null; // epoch ms of the frame at the playhead, per the player
  let playerLatency = () => null;
  let edgeInfo = () => ({}); // what the player says of its live edge, with every sample
  let beforeDvrSeek = () => {}; // what an application does before its viewer seeks behind live

  const fail = (what) => {
    if (e2e.fatal === null) Object.assign(e2e, { fatal: `${ms()} ms: ${what}`, fatalPhase: e2e.phase });
    finish('fatal error');
  };
  const finish = (reason) => {
    if (e2e.done) return;
    if (stallStart !== null) closeStall();
    Object.assign(e2e, {
      phase: 'done',
      doneReason: reason,
      elapsedMs: ms(),
      ...snapshot(video),
      done: true,
    });
  };
  const isoSeconds = (text) => {
    const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?$/.exec(text || 'PT0S');
    return m ? (+m[1] || 0) * 86400 + (+m[2] || 0) * 3600 + (+m[3] || 0) * 60 + (+m[4] || 0) : 0;
  };
  const mpdDate = () => (e2e.mpd ? e2e.mpd.availabilityStartTime + (e2e.mpd.periodStart + video.currentTime) * 1000 : null);

  // --- what the viewer sees (the driver's screenshots, as in player.js) --------------------------------
  measureCaptures(video, e2e);

  // --- stalls, rate, frames -------------------------------------------------------------------------
  let stallStart = null;
  let stall = null;
  const closeStall = () => {
    stall.durationMs = ms() - stallStart;
    e2e.stalls.push(stall);
    stallStart = stall = null;
  };
  video.addEventListener('waiting', () => {
    if (e2e.firstFrameMs === null || video.seeking || e2e.phase === 'seek' || stallStart !== null || e2e.ended) return;
    stallStart = ms();
    stall = { ms: stallStart, phase: e2e.phase, currentTime: video.currentTime, durationMs: null };
  });
  video.addEventListener('playing', () => stallStart !== null && closeStall());
  video.addEventListener('ratechange', () => e2e.rates.push({ ms: ms(), rate: video.playbackRate }));
  video.addEventListener('error', () => fail(`video element: ${video.error && video.error.code}: ${video.error && video.error.message}`));
  video.addEventListener('ended', () => endedNow('ended'));

  let lastHeight = null;
  let lastFrameAt = 0;
  const onFrame = (now, meta) => {
    if (e2e.done) return;
    if (e2e.firstFrameMs === null) {
      e2e.firstFrameMs = ms();
      startWatching();
    }
    if (stallStart !== null) closeStall(); // a frame presented: whatever waited is over
    lastHeight = meta.height;
    lastFrameAt = ms();
    if (e2e.seek && e2e.seek.seekedMs !== null && e2e.seek.firstFrameMs === null && meta.mediaTime >= e2e.seek.toTime - 0.5) {
      e2e.seek.firstFrameMs = ms();
      e2e.seek.dateAfter = frameDate();
      e2e.seek.latencyAfter = e2e.seek.dateAfter !== null ? (Date.now() - e2e.seek.dateAfter) / 1000 : null;
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);

  const sample = () => {
    if (e2e.done || e2e.ended) return;
    const wall = Date.now();
    const date = frameDate();
    const mdate = mpdDate();
    const buffered = video.buffered;
    let buffer = 0;
    for (let i = 0; i < buffered.length; i++) {
      if (buffered.start(i) <= video.currentTime + 0.1 && buffered.end(i) > video.currentTime) buffer = buffered.end(i) - video.currentTime;
    }
    e2e.samples.push({
      ms: ms(),
      phase: e2e.phase,
      wall,
      currentTime: video.currentTime,
      latency: date !== null ? (wall - date) / 1000 : null,
      mpdLatency: isDash && mdate !== null ? (wall - mdate) / 1000 : null,
      playerLatency: playerLatency(),
      rate: video.playbackRate,
      buffer,
      height: lastHeight,
      paused: video.paused,
      ...edgeInfo(),
    });
  };

  // --- the phases: live edge, DVR seek, end --------------------------------------------------------------
  const after = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));
  async function startWatching() {
    e2e.phase = 'live';
    setInterval(sample, SAMPLE_MS);
    await after(watchS);
    if (seekBack > 0) await seekIntoDvr();
    if (!awaitEnd) return finish('watched');
    e2e.phase = 'awaiting-end';
    // The driver stops the channel now; the page waits for "ended", or for a playhead that stays put.
    const quiet = setInterval(() => {
      if (e2e.done) return clearInterval(quiet);
      if (channelEnded() && ms() - lastFrameAt > END_QUIET_MS) {
        clearInterval(quiet);
        endedNow('stopped');
      }
    }, 250);
  }
  async function seekIntoDvr() {
    e2e.phase = 'seek';
    const fromTime = video.currentTime;
    const toTime = fromTime - seekBack;
    e2e.seek = {
      fromTime, toTime, fromDate: frameDate(), latencyBefore: null, seekedMs: null, firstFrameMs: null,
      dateAfter: null, latencyAfter: null, advancedS: null, seekableStart: null,
    };
    const last = e2e.samples.filter((s) => s.phase === 'live' && s.latency !== null).slice(-1)[0];
    e2e.seek.latencyBefore = last ? last.latency : null;
    if (video.seekable.length) e2e.seek.seekableStart = video.seekable.start(0);
    beforeDvrSeek();
    const seeked = new Promise((resolve) => video.addEventListener('seeked', resolve, { once: true }));
    video.currentTime = toTime;
    await seeked;
    e2e.seek.seekedMs = ms();
    e2e.phase = 'dvr';
    const startedAt = video.currentTime;
    await after(seekWatchS);
    e2e.seek.advancedS = video.currentTime - startedAt;
  }
  let ended = () => false;
  const channelEnded = () => ended();
  const endedNow = (how) => {
    if (e2e.ended || e2e.done) return;
    const b = video.buffered;
    e2e.ended = {
      ms: ms(), how, currentTime: video.currentTime, phase: e2e.phase, paused: video.paused,
      bufferedEnd: b.length ? b.end(b.length - 1) : null, duration: video.duration,
    };
    finish(how === 'ended' ? 'ended' : 'stopped at the end');
  };

  async function readMpd() {
    const text = await (await fetch(manifest, { cache: 'no-store' })).text();
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    const root = doc.documentElement;
    const period = doc.getElementsByTagName('Period')[0];
    e2e.mpd = {
      availabilityStartTime: Date.parse(root.getAttribute('availabilityStartTime')),
      periodStart: isoSeconds(period && period.getAttribute('start')),
    };
  }

  // --- the players --------------------------------------------------------------------------------------
  async function shakaPlay() {
    await load(`node_modules/shaka-player/dist/shaka-player.compiled${q.get('debug') ? '.debug' : ''}.js`);
    shaka.polyfill.installAll();
    e2e.version = shaka.Player.version;
    player = new shaka.Player();
    await player.attach(video);
    // DASH: autoCorrectDrift off from the start: Shaka's low-latency configuration turns it off too, but
    // only once the first MPD has been read, and by then it has taken the end of the growing segment the
    // SegmentTimeline lists (a future instant) for the live edge: it played 0.6 s behind the wall clock
    // and stalled at every segment boundary. ignoreSuggestedPresentationDelay: Shaka holds its seek range
    // end @suggestedPresentationDelay behind the availability edge and then aims at the ServiceDescription
    // target behind that again (2 + 2 s here: 4.5 s on the wall clock); low-latency DASH players are to
    // follow the ServiceDescription, as dash.js does.
    player.configure({
      streaming: { lowLatencyMode: true },
      manifest: { dash: { autoCorrectDrift: false, ignoreSuggestedPresentationDelay: true } },
      ...(clearkeys ? { drm: { clearKeys: clearkeys } } : {}),
    });
    if (extraConfig) player.configure(extraConfig);
    player.addEventListener('error', (ev) => {
      const err = ev.detail;
      if (!(err instanceof shaka.util.Error)) return fail(`shaka: ${err && err.name}: ${err && err.message}`);
      const text = `shaka ${err.code} (category ${err.category}, severity ${err.severity}): ${String(JSON.stringify(err.data)).slice(0, 300)}`;
      if (err.severity === shaka.util.Error.Severity.CRITICAL) fail(text);
      else e2e.errors.push(`${ms()} ms: ${text}`);
    });
    player.addEventListener('adaptation', (ev) => e2e.switches.push({ ms: ms(), to: ev.newTrack ? ev.newTrack.height : null }));
    frameDate = () => {
      const d = player.getPlayheadTimeAsDate();
      return d ? d.getTime() : null;
    };
    ended = () => !player.isLive();
    edgeInfo = () => {
      const tl = player.getManifest() && player.getManifest().presentationTimeline;
      if (!tl) return {};
      return {
        seekEnd: player.seekRange().end, // Shaka's live edge for its latency control
        delay: tl.getDelay(),
        ato: tl.getAvailabilityTimeOffset(),
        maxSeg: tl.getMaxSegmentDuration(),
        pst: tl.getPresentationStartTime(),
        availEnd: tl.getSegmentAvailabilityEnd(),
      };
    };
    await go();
    if (isDash) await readMpd();
    try {
      await player.load(manifest);
    } catch (err) {
      fail(`shaka load ${err && err.code}: ${String(JSON.stringify(err && err.data)).slice(0, 300)} ${err && err.stack ? err.stack.slice(0, 1500) : err}`);
      return;
    }
    const sd = player.getManifest && player.getManifest() && player.getManifest().serviceDescription;
    // DASH: the ServiceDescription's target; HLS: the delay Shaka keeps behind the edge (PART-HOLD-BACK).
    e2e.targetLatency = sd && sd.targetLatency != null ? sd.targetLatency : player.getManifest().presentationTimeline.getDelay();
    playerLatency = () => {
      const l = player.getStats().liveLatency;
      return Number.isFinite(l) ? l : null;
    };
    video.play().catch((err) => fail(`play(): ${err}`));
  }

  async function dashjsPlay() {
    await load('node_modules/dashjs/dist/modern/umd/dash.all.min.js');
    player = dashjs.MediaPlayer().create();
    e2e.version = player.getVersion();
    player.updateSettings({
      debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING },
      streaming: {
        // liveDelay stays NaN: dash.js takes it from the MPD's ServiceDescription/Latency@target.
        liveCatchup: { enabled: true },
      },
    });
    if (extraConfig) player.updateSettings(extraConfig);
    if (clearkeys) {
      const keys = Object.fromEntries(Object.entries(clearkeys).map(([kid, key]) => [hexToB64url(kid), hexToB64url(key)]));
      player.setProtectionData({ 'org.w3.clearkey': { clearkeys: keys } });
    }
    const ev = dashjs.MediaPlayer.events;
    player.on(ev.ERROR, (e) => fail(`dash.js error ${JSON.stringify(e.error || e).slice(0, 300)}`));
    player.on(ev.PLAYBACK_ERROR, (e) => fail(`dash.js playback error ${JSON.stringify(e.error || e).slice(0, 300)}`));
    player.on(ev.QUALITY_CHANGE_RENDERED, (e) => {
      if (e.mediaType === 'video') e2e.switches.push({ ms: ms(), to: (e.newRepresentation || {}).height || null });
    });
    player.on(ev.STREAM_INITIALIZED, () => {
      try {
        e2e.targetLatency = player.getTargetLiveDelay();
        e2e.lowLatencyMode = player.getLowLatencyModeEnabled();
      } catch (err) {
        e2e.errors.push(`dash.js settings: ${err}`);
      }
    });
    // dash.js seeks back to the live edge when the latency exceeds the target by its maxDrift, which it
    // takes from the ServiceDescription's Latency@max: a viewer who seeks into the DVR window would be
    // sent back to live at once. The viewer has chosen to watch behind live: no seek to live from then on.
    beforeDvrSeek = () => player.updateSettings({ streaming: { liveCatchup: { maxDrift: 0 } } });
    frameDate = mpdDate;
    playerLatency = () => {
      const l = player.getCurrentLiveLatency();
      return Number.isFinite(l) ? l : null;
    };
    ended = () => !player.isDynamic();
    await go();
    await readMpd();
    player.initialize(video, manifest, true);
  }

  async function hlsjsPlay() {
    await load('node_modules/hls.js/dist/hls.min.js');
    e2e.version = Hls.version;
    if (!Hls.isSupported()) return fail('hls.js: MediaSource unsupported');
    // lowLatencyMode: parts, blocking reload, target PART-HOLD-BACK; catch-up by rate up to 1.5x; the
    // DVR window seekable (liveDurationInfinity).
    // An encrypted channel (licence=URL): ClearKey through EME, the licence from the channel (hls.js takes
    // the key system from the playlists' KEYFORMAT, the licence server only from its configuration).
    const drm = licence ? { emeEnabled: true, drmSystems: { 'org.w3.clearkey': { licenseUrl: licence } } } : {};
    const hls = new Hls({
      lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, liveDurationInfinity: true, debug: false, ...drm, ...extraConfig,
    });
    player = hls;
    let live = true;
    hls.on(Hls.Events.ERROR, (_, d) => {
      const text = `hls.js ${d.type} ${d.details}${d.reason ? `: ${d.reason}` : ''}${d.error ? `: ${d.error.message}` : ''}`;
      if (d.fatal) fail(text);
      else e2e.errors.push(`${ms()} ms: ${text}`);
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => e2e.switches.push({ ms: ms(), to: hls.levels[d.level].height }));
    hls.on(Hls.Events.LEVEL_UPDATED, (_, d) => {
      live = d.details.live;
      if (e2e.targetLatency === null && hls.targetLatency) e2e.targetLatency = hls.targetLatency;
    });
    frameDate = () => (hls.playingDate ? hls.playingDate.getTime() : null);
    playerLatency = () => (Number.isFinite(hls.latency) ? hls.latency : null);
    ended = () => !live;
    await go();
    hls.loadSource(manifest);
    hls.attachMedia(video);
  }

  const players = { shaka: shakaPlay, dashjs: dashjsPlay, hlsjs: hlsjsPlay };
  if (!players[which]) fail(`unknown player ${which}`);
  else players[which]().catch((err) => fail(`${which}: ${err && err.stack ? err.stack : err}`));
})();
