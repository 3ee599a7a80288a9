// The account pages: read the token from the link, and call the JSON route only when the
// person confirms (a mail scanner that opens the link changes nothing).
"use strict";

const token = new URLSearchParams(window.location.search).get("token") || "";
// The token is read: take it out of the address bar and the browser's history.
if (token) {
  window.history.replaceState(null, "", window.location.pathname);
}

function show(text, ok) {
  const outcome = document.getElementById("outcome");
  outcome.textContent = text;
  outcome.className = ok ? "ok" : "error";
  outcome.hidden = false;
}

// The first message of a 422 list, or the detail string of any other error.
function problem(body) {
  if (Array.isArray(body.detail)) {
    const first = body.detail[0] || {};
    const field = (first.loc || []).slice(-1)[0];
    return field ? field.replace("_", " ") + ": " + first.msg : first.msg;
  }
  return body.detail;
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.ok) {
    return null;
  }
  try {
    return problem(await response.json()) || "The request failed (" + response.status + ").";
  } catch {
    return "The request failed (" + response.status + ").";
  }
}

const TOKEN_FAILED =
  "This link is invalid, has expired or was used already. Ask for a new message.";

function done(form, failure, success) {
  if (failure === null) {
    form.hidden = true;
    show(success, true);
  } else {
    show(failure === "Invalid, expired or already used token" ? TOKEN_FAILED : failure, false);
  }
}

function noToken(form) {
  form.hidden = true;
  show("This page needs the link from your message, with its token.", false);
}

const verify = document.getElementById("verify-email");
if (verify) {
  if (!token) {
    noToken(verify);
  }
  verify.addEventListener("submit", async (event) => {
    event.preventDefault();
    const failure = await post("/api/auth/verify-email", { token });
    done(verify, failure, "Thank you: your email address is verified.");
  });
}

const reset = document.getElementById("reset-password");
if (reset) {
  if (!token) {
    noToken(reset);
  }
  reset.addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = document.getElementById("new-password").value;
    if (password !== document.getElementById("repeat-password").value) {
      show("The two passwords differ: type the same one twice.", false);
      return;
    }
    if (password.length < 8) {
      show("The password needs at least 8 characters.", false);
      return;
    }
    const failure = await post("/api/auth/reset-password", { token, new_password: password });
    done(reset, failure, "Your password is changed. Log in with it on every device.");
  });
}
