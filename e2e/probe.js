// Measures a page that is not e2e/player.html (the edge's catalogue and watch pages) the way player.js
// measures its own cases, in window.e2e: run.mjs runs it before the page's scripts (a case's "init").
//
// A page without a <video> is done once loaded: e2e.heading, e2e.links (every href) and e2e.text say what
// it shows. A page with one is watched until SECONDS of media played (or TIMEOUT_MS): first frame,
// presented frame sizes, played seconds, decoded frames, the driver's screenshots (window.e2eCapture), and
// as its fatal error the first of the video element's error and window.vodflowWatch.error (the watch
// page's own report of a player error). Times count from the navigation.
'use strict';

(() => {
  const SECONDS = 6;
  const TIMEOUT_MS = 20000;
  const ms = () => Math.round(performance.now());
  const e2e = {
    ready: false,
    done: false,
    doneReason: null,
    fatal: null,
    errors: [],
    switches: [],
    firstFrameMs: null,
    frameSizes: [],
    captures: [],
    heading: null,
    links: [],
    text: null,
  };
  window.e2e = e2e;

  window.addEventListener('DOMContentLoaded', () => {
    const h1 = document.querySelector('h1');
    e2e.heading = h1 ? h1.textContent : null;
    e2e.links = [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href'));
    e2e.text = document.body.innerText.slice(0, 2000);
    const video = document.querySelector('video');
    if (!video) {
      Object.assign(e2e, { done: true, doneReason: 'page without video', ready: true });
      return;
    }
    video.scrollIntoView(); // the screenshots show the picture, not the page around it

    const playedSeconds = () => {
      let total = 0;
      for (let i = 0; i < video.played.length; i++) total += video.played.end(i) - video.played.start(i);
      return total;
    };
    const finish = (reason) => {
      if (e2e.done) return;
      const quality = video.getVideoPlaybackQuality();
      Object.assign(e2e, {
        doneReason: reason,
        elapsedMs: ms(),
        currentTime: video.currentTime,
        playedSeconds: playedSeconds(),
        totalVideoFrames: quality.totalVideoFrames,
        droppedVideoFrames: quality.droppedVideoFrames,
        videoError: video.error ? `${video.error.code}: ${video.error.message}` : null,
        status: (document.getElementById('status') || {}).textContent || null,
        done: true,
      });
    };
    const check = () => {
      const watch = window.vodflowWatch;
      if (watch && watch.error && e2e.fatal === null) {
        e2e.fatal = `${ms()} ms: ${watch.error}`;
        finish('fatal error');
      } else if (video.currentTime >= SECONDS) finish('played');
      else if (video.duration && video.currentTime >= video.duration - 1) finish('ended');
    };
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
    video.requestVideoFrameCallback(onFrame);
    video.addEventListener('timeupdate', check);
    video.addEventListener('error', () => {
      if (e2e.fatal === null) e2e.fatal = `${ms()} ms: video element: ${video.error && video.error.message}`;
      finish('fatal error');
    });
    const poll = setInterval(() => (e2e.done ? clearInterval(poll) : check()), 200);
    setTimeout(() => finish('timeout'), TIMEOUT_MS);

    // The driver's screenshots, reduced to 64x36 luma and compared with the first (as player.js does).
    const canvas = document.createElement('canvas');
    canvas.width = 64;
    canvas.height = 36;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    let first = null;
    window.e2eCapture = async (pngBase64) => {
      const mediaTime = video.currentTime;
      // Decoded here, not fetched from a data: URL, which the watch page's CSP refuses.
      const blob = new Blob([Uint8Array.from(atob(pngBase64), (c) => c.charCodeAt(0))], { type: 'image/png' });
      ctx.drawImage(await createImageBitmap(blob), 0, 0, canvas.width, canvas.height);
      const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const luma = new Float32Array(px.length / 4);
      for (let i = 0; i < luma.length; i++) luma[i] = 0.299 * px[4 * i] + 0.587 * px[4 * i + 1] + 0.114 * px[4 * i + 2];
      const mean = luma.reduce((a, b) => a + b, 0) / luma.length;
      const std = Math.sqrt(luma.reduce((a, b) => a + (b - mean) ** 2, 0) / luma.length);
      if (first === null) first = luma;
      let diff = 0;
      for (let i = 0; i < luma.length; i++) diff += Math.abs(luma[i] - first[i]);
      e2e.captures.push({ mediaTime, mean, std, diffFromFirst: diff / luma.length });
    };
    e2e.ready = true;
  });
})();
