/*
 * Symphony iframe bridge (served as /vendor/symphony-bridge.js; docs/protocol.md §11.4).
 *
 * Loaded into `text/html+symphony` and `text/html+htmx` pages, which run in frames on the UI sandbox origin with
 * an opaque origin of their own (docs/ui.md "Trust"). It talks to the shell by postMessage — it takes messages only
 * from its parent window at the shell's origin, and posts only to that origin — and the shell performs NATS
 * requests and publishes on the extension's own subjects (`cirata.extensions.<prefix>.…`) with the signed-in
 * user's connection, so nats-server applies that user's permissions. It exposes `window.symphony`:
 *
 *   symphony.request(subject, data = "", { timeout = 5000 }) → Promise<string>   (the reply's data as text)
 *   symphony.publish(subject, data = "")                      → Promise<void>
 *   symphony.navigate(path)            navigates the shell (`/catalog`)
 *   symphony.setTitle(titleOrCrumbs)   a string, or an ordered map path → label (the last is the title)
 *   symphony.theme                     "light" | "dark"; also on <html data-theme>
 *   symphony.onTheme(fn)               called on every change; returns an unsubscribe function
 *   symphony.token                     a short-lived bearer for this extension's gateway routes only
 *   symphony.fetch(url, init)          fetch() with `Authorization: Bearer <token>` (relative URLs reach the
 *                                      gateway on the sandbox origin: `/api/v1/extension/<prefix>/…`)
 *
 * htmx requests get `Authorization: Bearer <token>` automatically (an `htmx:configRequest` handler).
 */
(function () {
  "use strict";
  if (window.symphony) return;
  var boot = window.__SYMPHONY__ || {};
  var parentOrigin = typeof boot.parentOrigin === "string" ? boot.parentOrigin : null;
  var state = { theme: boot.theme === "dark" ? "dark" : "light", token: boot.token || null, user: boot.user || null, info: boot.info || null };
  var pending = {};
  var seq = 0;
  var themeListeners = [];
  var readyWaiters = [];
  var ready = false;

  function post(message) {
    if (!parentOrigin) return;
    message.symphony_bridge = 1;
    window.parent.postMessage(message, parentOrigin);
  }

  function applyTheme(theme) {
    state.theme = theme === "dark" ? "dark" : "light";
    document.documentElement.setAttribute("data-theme", state.theme);
    document.documentElement.style.colorScheme = state.theme;
    themeListeners.slice().forEach(function (fn) {
      try {
        fn(state.theme);
      } catch (e) {
        console.error("[symphony bridge] theme listener failed", e);
      }
    });
  }

  function call(message) {
    return new Promise(function (resolve, reject) {
      var id = ++seq;
      pending[id] = { resolve: resolve, reject: reject };
      message.id = id;
      post(message);
    });
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || event.origin !== parentOrigin) return;
    var m = event.data;
    if (!m || m.symphony_bridge !== 1) return;
    switch (m.type) {
      case "init":
        if (m.token) state.token = m.token;
        state.user = m.user || state.user;
        state.info = m.info || state.info;
        applyTheme(m.theme);
        ready = true;
        readyWaiters.splice(0).forEach(function (fn) {
          fn();
        });
        break;
      case "theme":
        applyTheme(m.theme);
        break;
      case "token":
        state.token = m.token;
        break;
      case "reply": {
        var p = pending[m.id];
        if (!p) return;
        delete pending[m.id];
        if (m.error) {
          var err = new Error(m.error);
          err.code = m.code;
          p.reject(err);
        } else {
          p.resolve(m.data);
        }
        break;
      }
    }
  });

  document.addEventListener("htmx:configRequest", function (event) {
    if (state.token) event.detail.headers["Authorization"] = "Bearer " + state.token;
  });

  window.symphony = {
    request: function (subject, data, options) {
      var timeout = (options && options.timeout) || 5000;
      return call({ type: "request", subject: String(subject), data: data == null ? "" : String(data), timeout: timeout });
    },
    publish: function (subject, data) {
      return call({ type: "publish", subject: String(subject), data: data == null ? "" : String(data) }).then(function () {});
    },
    navigate: function (path) {
      post({ type: "navigate", path: String(path) });
    },
    setTitle: function (title) {
      post({ type: "setTitle", title: title });
    },
    onTheme: function (fn) {
      themeListeners.push(fn);
      return function () {
        themeListeners = themeListeners.filter(function (f) {
          return f !== fn;
        });
      };
    },
    whenReady: function () {
      return new Promise(function (resolve) {
        if (ready) resolve();
        else readyWaiters.push(resolve);
      });
    },
    fetch: function (url, init) {
      init = init || {};
      var headers = new Headers(init.headers || {});
      if (state.token) headers.set("Authorization", "Bearer " + state.token);
      init.headers = headers;
      return window.fetch(url, init);
    },
  };
  Object.defineProperty(window.symphony, "theme", { get: function () { return state.theme; } });
  Object.defineProperty(window.symphony, "token", { get: function () { return state.token; } });
  Object.defineProperty(window.symphony, "user", { get: function () { return state.user; } });

  applyTheme(state.theme);
  post({ type: "ready" });
})();
