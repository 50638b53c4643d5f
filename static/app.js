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
      dialog.returnFocusTo = document.activeElement;
      dialog.showModal();
    });
  }

  function closeDialog(dialog) {
    if (dialog.open) dialog.close();
    dialog.remove();
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
    var back = dialog.returnFocusTo;
    dialog.remove();
    if (back && document.contains(back)) back.focus();
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
        : fetch(copyUrl.getAttribute("data-copy-url"), {
            method: "POST",
            headers: { "X-CSRF-Token": csrfToken() },
            credentials: "same-origin",
            cache: "no-store",
          }).then(function (res) {
            if (!res.ok) throw new Error("copy refused");
            return res.text();
          });
      value
        .then(function (text) { return navigator.clipboard.writeText(text); })
        .then(function () { flash("success", "Token copied to the clipboard."); })
        .catch(function () { flash("error", "The token could not be copied."); });
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
