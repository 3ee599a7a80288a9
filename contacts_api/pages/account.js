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

// The button says "busy" until the answer is in, so that a second click sends nothing twice.
async function post(form, path, body) {
  const button = form.querySelector("button");
  button.disabled = true;
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    return "The server could not be reached. Check your connection and try again.";
  } finally {
    button.disabled = false;
  }
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
    const failure = await post(verify, "/api/auth/verify-email", { token });
    done(verify, failure, "Thank you: your email address is verified.");
  });
}

const reset = document.getElementById("reset-password");
if (reset) {
  if (!token) {
    noToken(reset);
  }
  const fields = reset.querySelectorAll("input");
  // A field marked wrong is drawn so (and read so by screen readers) until it is changed.
  const mark = (field) => {
    field.setAttribute("aria-invalid", "true");
    field.focus();
  };
  for (const field of fields) {
    field.addEventListener("input", () => field.removeAttribute("aria-invalid"));
  }
  reset.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [first, second] = fields;
    const password = first.value;
    if (password !== second.value) {
      show("The two passwords differ: type the same one twice.", false);
      mark(second);
      return;
    }
    if (password.length < 8) {
      show("The password needs at least 8 characters.", false);
      mark(first);
      return;
    }
    const failure = await post(reset, "/api/auth/reset-password", {
      token,
      new_password: password,
    });
    done(reset, failure, "Your password is changed. Log in with it on every device.");
  });
}
