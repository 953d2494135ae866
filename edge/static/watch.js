// The edge's watch page (edge/pages.py): plays one title with Shaka Player.
//
// The page's JSON (#watch-config) names the manifest (pinned to one version), the ClearKey licence URL
// and a short-lived token scoped to this title. A request filter adds the token to this title's
// manifest, segment, key and licence requests on this origin, and to nothing else. What happens is shown
// in #status and kept in window.vodflowWatch ({player, loaded, error}) for whoever drives the page.
'use strict';

(async () => {
  const cfg = JSON.parse(document.getElementById('watch-config').textContent);
  const video = document.getElementById('video');
  const status = document.getElementById('status');
  const state = { title: cfg.title, version: cfg.version, player: null, loaded: false, error: null };
  window.vodflowWatch = state;
  const say = (text) => {
    status.textContent = text;
  };
  const fail = (text) => {
    if (state.error === null) state.error = text;
    say(`Cannot play ${cfg.title}: ${text}`);
  };

  if (typeof shaka === 'undefined') return fail('Shaka Player did not load');
  shaka.polyfill.installAll();
  if (!shaka.Player.isBrowserSupported()) return fail('this browser cannot play it (no MediaSource)');

  const withToken = (uri) => {
    const url = new URL(uri, location.href);
    if (url.origin !== location.origin || !cfg.scopes.some((s) => url.pathname.startsWith(s))) return uri;
    if (!url.searchParams.has('token')) url.searchParams.set('token', cfg.token);
    return url.toString();
  };

  const player = new shaka.Player();
  state.player = player;
  await player.attach(video);
  player.configure({ drm: { servers: { 'org.w3.clearkey': cfg.license } } });
  player.getNetworkingEngine().registerRequestFilter((type, request) => {
    request.uris = request.uris.map(withToken);
  });
  player.addEventListener('error', (ev) => {
    const err = ev.detail;
    if (!(err instanceof shaka.util.Error)) return fail(`${err && err.name}: ${err && err.message}`);
    if (err.severity === shaka.util.Error.Severity.CRITICAL) fail(`Shaka error ${err.code}`);
  });
  try {
    await player.load(cfg.manifest);
  } catch (err) {
    return fail(`Shaka error ${err && err.code}`);
  }
  state.loaded = true;
  say(`Playing ${cfg.title} (version ${cfg.version}).`);
  video.play().catch(() => say(`${cfg.title} is ready: press play.`));
})();
