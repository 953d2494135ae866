// What the two player pages (player.js for VOD, live.js for live channels) share, as window.e2eCommon:
// loading a player library, the played seconds and playback-quality snapshot of the <video>, ClearKey key
// encoding, and measuring the driver's screenshots (e2e/run.mjs hands each to window.e2eCapture).
'use strict';

(() => {
  const load = (src) =>
    new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error(`cannot load ${src}`));
      document.head.appendChild(s);
    });

  const playedSeconds = (video) => {
    let total = 0;
    for (let i = 0; i < video.played.length; i++) total += video.played.end(i) - video.played.start(i);
    return total;
  };

  // The <video>'s state when a page is done, merged into window.e2e.
  const snapshot = (video) => {
    const quality = video.getVideoPlaybackQuality();
    return {
      currentTime: video.currentTime,
      playedSeconds: playedSeconds(video),
      totalVideoFrames: quality.totalVideoFrames,
      droppedVideoFrames: quality.droppedVideoFrames,
      videoError: video.error ? `${video.error.code}: ${video.error.message}` : null,
      readyState: video.readyState,
    };
  };

  const hexToB64url = (hex) =>
    btoa(String.fromCharCode(...hex.match(/../g).map((h) => parseInt(h, 16))))
      .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

  // Drawing the <video> into a canvas gives black for encrypted media (EME); a screenshot shows what a
  // viewer sees. Each capture is reduced to 64x36 greyscale and compared with the first one, into
  // e2e.captures: {mediaTime, mean, std, diffFromFirst} (luma 0-255).
  const measureCaptures = (video, e2e) => {
    const canvas = document.createElement('canvas');
    canvas.width = 64;
    canvas.height = 36;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    let firstLuma = null;
    window.e2eCapture = async (pngBase64) => {
      const mediaTime = video.currentTime;
      const blob = await (await fetch(`data:image/png;base64,${pngBase64}`)).blob();
      ctx.drawImage(await createImageBitmap(blob), 0, 0, canvas.width, canvas.height);
      const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const luma = new Float32Array(px.length / 4);
      for (let i = 0; i < luma.length; i++) luma[i] = 0.299 * px[4 * i] + 0.587 * px[4 * i + 1] + 0.114 * px[4 * i + 2];
      const mean = luma.reduce((a, b) => a + b, 0) / luma.length;
      const std = Math.sqrt(luma.reduce((a, b) => a + (b - mean) ** 2, 0) / luma.length);
      if (firstLuma === null) firstLuma = luma;
      let diff = 0;
      for (let i = 0; i < luma.length; i++) diff += Math.abs(luma[i] - firstLuma[i]);
      e2e.captures.push({ mediaTime, mean, std, diffFromFirst: diff / luma.length });
    };
  };

  // The page's clock, from the driver's go: ``ms()`` since then; ``go(e2e, timeoutMs, onTimeout)`` sets
  // e2e.ready and resolves once the driver (run.mjs) calls window.e2eGo, having set up the network.
  const clock = () => {
    let t0 = performance.now();
    const ms = () => Math.round(performance.now() - t0);
    const go = (e2e, timeoutMs, onTimeout) =>
      new Promise((resolve) => {
        window.e2eGo = () => {
          t0 = performance.now();
          setTimeout(onTimeout, timeoutMs);
          resolve();
        };
        e2e.ready = true;
      });
    return { ms, go };
  };

  window.e2eCommon = { load, playedSeconds, snapshot, hexToB64url, measureCaptures, clock };
})();
