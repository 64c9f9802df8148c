// The login view (a jqd with a token) and the page for a jqd without one.

import * as api from "./api.js";
import { h } from "./dom.js";

export function mountLogin(root, ctx) {
  const token = h("input", {
    class: "input", id: "login-token", type: "password", test: "login-token", name: "token",
    autocomplete: "current-password", required: true, spellcheck: "false",
  });
  const err = h("p", { class: "form-error", test: "login-error", role: "alert" });
  const submit = h("button", { class: "btn btn-primary btn-block", type: "submit", test: "login-submit", text: "Log in" });
  const form = h("form", { class: "login-card card" },
    h("h1", { class: "login-title" }, h("img", { src: "/assets/favicon.svg", alt: "", width: "28", height: "28" }), "jqd dashboard"),
    h("p", { class: "muted" }, "Enter this jqd's token: the contents of its ", h("code", { text: "token-file" }),
      " (by default ", h("code", { text: "~/.config/jqd/token" }), " of the user jqd runs as)."),
    h("label", { class: "field-label", for: "login-token", text: "Token" }), token, err, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = "";
    try {
      await api.login(token.value.trim());
      ctx.loggedIn();
    } catch (x) {
      err.textContent = x.code === "unauthorized" ? "Wrong token: check it and try again." : "Could not log in: " + x.message;
      token.select();
    } finally {
      submit.disabled = false;
    }
  });
  root.append(h("div", { class: "login" }, form));
  token.focus();
}

export function mountUnavailable(root) {
  root.append(h("div", { class: "login" },
    h("section", { class: "login-card card", test: "unavailable" },
      h("h1", { class: "login-title", text: "This jqd has no token" }),
      h("p", {}, "The dashboard shows jobs and runs actions, so it needs the same token as a TCP client. " +
        "jqd started without one serves no data here."),
      h("p", {}, "To turn it on, give jqd a token: start it with ", h("code", { text: "--listen HOST:PORT" }),
        " (it makes one at first start in ", h("code", { text: "~/.config/jqd/token" }), "), or point ",
        h("code", { text: "token-file" }), " at a file holding one, then restart jqd and log in here with that token."),
      h("p", { class: "muted" }, "For tests only, ", h("code", { text: "--insecure-tcp" }),
        " serves the dashboard on loopback without a token. See PROTOCOL.md section 16."))));
}
