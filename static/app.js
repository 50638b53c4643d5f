// Progressive enhancement for the portal: modal dialogs, copy buttons, flash messages.
// Everything here is optional: without JavaScript every control is a plain link or form.
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  function flash(kind, message) {
    var area = document.getElementById("flash");
    if (!area) return;
    var div = document.createElement("div");
    div.className = "alert alert-" + kind;
    div.setAttribute("role", kind === "error" ? "alert" : "status");
    div.textContent = message;
    area.replaceChildren(div);
  }

  function within(root, selector) {
    var found = Array.prototype.slice.call(root.querySelectorAll(selector));
    if (root.matches && root.matches(selector)) found.unshift(root);
    return found;
  }

  function enhance(root) {
    within(root, ".js-only[hidden]").forEach(function (el) {
      el.hidden = false;
    });
    within(root, "dialog.modal").forEach(function (dialog) {
      if (dialog.matches(":modal")) return;
      // A server-rendered dialog is open but not modal: reopen it as a modal so focus is trapped
      // and Esc cancels. The close event this causes must not remove it.
      if (dialog.open) {
        dialog.dataset.reopening = "1";
        dialog.close();
      }
      // Not document.activeElement: by now the dialog's autofocus control (Cancel) may hold focus.
      dialog.returnFocus = lastTrigger;
      dialog.showModal();
    });
    // Renaming usually means replacing the name: select it so typing does. This runs when htmx
    // has settled, a moment after the field appeared: whoever already started typing keeps
    // what they typed.
    within(root, ".rename-form input[autofocus]").forEach(function (input) {
      if (input.value !== input.defaultValue) return;
      input.focus();
      input.select();
    });
  }

  // What opened a dialog, so that closing it puts keyboard focus back there.
  var lastTrigger = null;
  // When that control was replaced by the answer (a regenerated row, a panel after a delete),
  // focus goes to its successor with the same label once htmx has settled.
  var pendingFocus = null;

  function restoreFocus(target) {
    if (!target) return;
    if (target.isConnected) {
      target.focus();
      return;
    }
    pendingFocus = target.getAttribute("aria-label") || "";
    settleFocus();
  }

  function settleFocus() {
    if (pendingFocus === null) return;
    var successor = pendingFocus &&
      document.querySelector('[aria-label="' + CSS.escape(pendingFocus) + '"]');
    var fallback = document.getElementById("tokens-title") || document.getElementById("main");
    pendingFocus = null;
    (successor || fallback).focus();
  }

  // A form cannot take focus: for one, what submitted it (its button, also for an Enter in a
  // field) is what focus goes back to.
  function triggerOf(evt) {
    var elt = evt.detail && evt.detail.elt;
    if (!elt || elt.tagName !== "FORM") return elt;
    var config = evt.detail.requestConfig;
    var submitter = config && config.triggeringEvent && config.triggeringEvent.submitter;
    return submitter || elt.querySelector("button[type=submit], button:not([type])") || elt;
  }

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = triggerOf(evt);
    if (elt && !elt.closest("dialog")) lastTrigger = elt;
  });
  document.addEventListener("htmx:afterSettle", settleFocus);

  // A row swap removes the control that was used and drops focus to <body>, so the next Tab
  // would start over from the top of the page. The control names its counterpart in the new
  // row (Show → Hide and back, rename Save and Cancel → Rename). This runs on swap rather than
  // on settle so that no keystroke lands in between. Focus that is still somewhere (htmx keeps
  // it on a field that is swapped with the same id, as a refused rename is) is left alone.
  document.addEventListener("htmx:afterSwap", function (evt) {
    // The server names the control to land on when the answer holds something new (the row a
    // token was just added as): that wins over whatever htmx kept focus on.
    var marked = document.querySelector("[data-focus-after-swap]");
    if (marked) {
      var target = document.getElementById(marked.getAttribute("data-focus-after-swap"));
      marked.removeAttribute("data-focus-after-swap");
      if (target) {
        target.focus();
        return;
      }
    }
    var config = evt.detail && evt.detail.requestConfig;
    var next = config && config.elt && config.elt.getAttribute("data-focus-after");
    if (!next) return;
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    // No counterpart when the answer was the whole table (the token had gone meanwhile).
    var successor = document.getElementById(next) || document.getElementById("tokens-title");
    if (successor) successor.focus();
  });

  // A modal keeps Tab inside it (WAI-ARIA dialog pattern); browsers would let it leave for
  // their own toolbar.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Tab") return;
    var dialog = document.querySelector("dialog.modal[open]");
    if (!dialog) return;
    var items = Array.prototype.filter.call(
      dialog.querySelectorAll("a[href], button:not([disabled]), input:not([type=hidden]), select, textarea"),
      function (el) { return el.getClientRects().length > 0; }
    );
    if (items.length === 0) return;
    var first = items[0];
    var last = items[items.length - 1];
    if (evt.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      evt.preventDefault();
      last.focus();
    } else if (!evt.shiftKey && (document.activeElement === last || !dialog.contains(document.activeElement))) {
      evt.preventDefault();
      first.focus();
    }
  });

  // Esc leaves an inline rename the way Cancel does (and so, with the same focus), as it
  // leaves a dialog. Not while a Save is on its way: both answers would race to replace the row.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape" || evt.defaultPrevented) return;
    var form = evt.target.closest && evt.target.closest(".rename-form");
    var cancel = form && form.querySelector("[data-rename-cancel]");
    if (!cancel || form.classList.contains("htmx-request")) return;
    evt.preventDefault();
    cancel.click();
  });

  function SessionEnded(login) {
    this.login = login;
  }

  // Whatever is not the value itself is refused, never copied: after the session has ended a
  // plain fetch would follow the redirect to the login page and hand over its HTML.
  function fetchTokenValue(url) {
    return fetch(url, {
      method: "POST",
      headers: {
        "X-CSRF-Token": csrfToken(),
        // Asked as htmx asks: the server then answers an ended session with HX-Redirect to the
        // login page (that comes back here) instead of a redirect, and a refusal with its
        // message for the flash area.
        "HX-Request": "true",
        "HX-Current-URL": location.href,
      },
      credentials: "same-origin",
      cache: "no-store",
    }).then(function (res) {
      var login = res.headers.get("HX-Redirect");
      if (login) throw new SessionEnded(login);
      if (res.redirected && new URL(res.url).pathname === "/login") {
        throw new SessionEnded(res.url);
      }
      var type = (res.headers.get("Content-Type") || "").toLowerCase();
      if (!res.ok) {
        return res.text().then(function (body) {
          var err = new Error("copy refused");
          if (type.indexOf("text/html") === 0) {
            err.reason = new DOMParser().parseFromString(body, "text/html").body.textContent.trim();
          }
          throw err;
        });
      }
      if (res.redirected || type.indexOf("text/plain") !== 0) throw new Error("not a token value");
      return res.text();
    });
  }

  // Said where the copy's answer would have been, with the way to log in again right there:
  // leaving the page at once would not tell why the copy did not happen.
  function sessionEnded(login) {
    var area = document.getElementById("flash");
    if (!area) {
      location.assign(login);
      return;
    }
    var div = document.createElement("div");
    div.className = "alert alert-error";
    div.setAttribute("role", "alert");
    div.append("Your session has ended, so nothing was copied. ");
    var link = document.createElement("a");
    link.href = login;
    link.textContent = "Log in again";
    div.append(link, " to copy the token.");
    area.replaceChildren(div);
    link.focus();
  }

  // The close event is dispatched later, by when a removed dialog no longer reaches the
  // document's listener: whoever removes a dialog puts focus back itself.
  function closeDialog(dialog) {
    var back = dialog.returnFocus;
    if (dialog.open) dialog.close();
    dialog.remove();
    restoreFocus(back);
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
  });
  document.addEventListener("htmx:load", function (evt) {
    enhance(evt.target);
  });

  document.addEventListener("close", function (evt) {
    var dialog = evt.target;
    if (!(dialog instanceof HTMLDialogElement) || !dialog.classList.contains("modal")) return;
    if (dialog.dataset.reopening) {
      delete dialog.dataset.reopening;
      return;
    }
    // Closed by Esc: still in the document.
    if (dialog.isConnected) closeDialog(dialog);
  }, true);

  document.addEventListener("click", function (evt) {
    var cancel = evt.target.closest("[data-dialog-cancel]");
    if (cancel) {
      var dialog = cancel.closest("dialog");
      if (dialog) {
        evt.preventDefault();
        closeDialog(dialog);
      }
      return;
    }
    var copyUrl = evt.target.closest("[data-copy-url]");
    if (copyUrl) {
      evt.preventDefault();
      var row = copyUrl.closest("tr");
      var shown = row && row.querySelector("[data-token-value]");
      var value = shown
        ? Promise.resolve(shown.textContent.trim())
        : fetchTokenValue(copyUrl.getAttribute("data-copy-url"));
      value
        .then(function (text) { return navigator.clipboard.writeText(text); })
        .then(function () { flash("success", "Token copied to the clipboard."); })
        .catch(function (err) {
          if (err instanceof SessionEnded) {
            sessionEnded(err.login);
          } else {
            flash("error", "The token could not be copied." + (err.reason ? " " + err.reason : ""));
          }
        });
      return;
    }
    var copyText = evt.target.closest("[data-copy-text]");
    if (copyText) {
      var source = document.querySelector(copyText.getAttribute("data-copy-text"));
      if (source) {
        navigator.clipboard.writeText(source.textContent.trim()).then(
          function () { flash("success", "Copied to the clipboard."); },
          function () { flash("error", "Could not copy."); }
        );
      }
    }
  });

  // A confirmed dialog closes as soon as its request has been answered.
  document.addEventListener("htmx:afterRequest", function (evt) {
    var dialog = evt.target.closest && evt.target.closest("dialog.modal");
    if (dialog) closeDialog(dialog);
  });
})();
