// A real browser (Debian's chromium, driven by playwright-core) against the example auth
// service in cookie mode: login, silent refresh, concurrent refreshes from one page, logout,
// and a cross-site request that must not refresh.
//
//     node cookie_flow.mjs AUTH_URL USER PASSWORD [host]
//
// With `host`, the service runs with `--host-cookie`: the `__Host-` cookie on `Path=/`.
//
// AUTH_URL is http://127.0.0.1:PORT. The app page is served at AUTH_URL/app (same origin as
// the service, so the browser sends its `Origin`); the attacker's page at
// http://localhost:PORT/evil, another site. Exits non-zero on the first failure.

import { chromium } from "playwright-core";

const [auth, user, password, form] = process.argv.slice(2);
const evil = auth.replace("127.0.0.1", "localhost");
const host = form === "host";
const COOKIE = host ? "__Host-tidepass-refresh" : "__Secure-tidepass-refresh";
const PATH = host ? "/" : "/token";

function check(cond, what) {
  if (!cond) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless=new"],
});
try {
  const context = await browser.newContext();
  // Both pages are served by the test, not by the service: the service has no pages.
  await context.route(`${auth}/app`, (route) =>
    route.fulfill({ contentType: "text/html", body: "<!doctype html><title>app</title>" }),
  );
  await context.route(`${evil}/evil`, (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><title>evil</title>
        <form id="f" method="post" action="${auth}/token">
          <input name="grant_type" value="refresh_token">
        </form>`,
    }),
  );
  const refreshCookie = async () =>
    (await context.cookies()).find((c) => c.name === COOKIE && c.domain === "127.0.0.1");

  const page = await context.newPage();
  await page.goto(`${auth}/app`);

  // Login in cookie mode: the access token in the body, the refresh token in an HttpOnly
  // cookie that scripts cannot read.
  const login = await page.evaluate(
    async ([user, password]) => {
      const r = await fetch("/login?cookie=1", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: user, password, device: "chromium" }),
      });
      const body = await r.json();
      return { status: r.status, body, visible: document.cookie };
    },
    [user, password],
  );
  check(login.status === 200 && login.body.access_token, "cookie login");
  check(login.body.refresh_token === undefined, "no refresh token in the body");
  check(!login.visible.includes("tidepass"), "the refresh cookie is invisible to scripts");
  const first = await refreshCookie();
  check(first && first.httpOnly && first.secure && first.sameSite === "Strict", "cookie attributes");
  check(first.path === PATH, `the cookie ${COOKIE} is scoped to ${PATH}`);

  // Silent refresh: the page posts to /token with no token of its own.
  const refresh = () =>
    page.evaluate(async () => {
      const r = await fetch("/token", {
        method: "POST",
        body: new URLSearchParams({ grant_type: "refresh_token" }),
      });
      return { status: r.status, body: await r.json() };
    });
  const silent = await refresh();
  check(silent.status === 200 && silent.body.access_token, "silent refresh");
  const second = await refreshCookie();
  check(second.value !== first.value, "the refresh rotated the cookie");

  // Five refreshes at once from one page (tabs waking up together): all succeed, and the
  // session lives on.
  const burst = await page.evaluate(async () => {
    const one = () =>
      fetch("/token", {
        method: "POST",
        body: new URLSearchParams({ grant_type: "refresh_token" }),
      }).then(async (r) => (r.status === 200 ? 200 : `${r.status} ${await r.text()}`));
    return Promise.all([one(), one(), one(), one(), one()]);
  });
  check(burst.every((s) => s === 200), `concurrent refreshes all 200 (${burst})`);
  const after = await refresh();
  check(after.status === 200, "the session survives the burst");
  const access = after.body.access_token;

  // A cross-site page submits a refresh form: the browser keeps the Strict cookie off it,
  // nothing rotates, and the session still works.
  const before = await refreshCookie();
  const attacker = await context.newPage();
  await attacker.goto(`${evil}/evil`);
  const [response] = await Promise.all([
    attacker.waitForNavigation(),
    attacker.evaluate(() => document.getElementById("f").submit()),
  ]);
  check(response.status() >= 400, `the cross-site refresh is refused (${response.status()})`);
  const untouched = await refreshCookie();
  check(untouched.value === before.value, "the cross-site request did not rotate the cookie");
  const still = await refresh();
  check(still.status === 200, "the session still refreshes after the attack");
  const current = still.body.access_token;

  // Logout clears the cookie; a refresh afterwards is refused.
  const out = await page.evaluate(async (token) => {
    const r = await fetch("/logout", {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    return r.status;
  }, current);
  check(out === 204, "logout");
  check((await refreshCookie()) === undefined, "logout cleared the cookie");
  const dead = await refresh();
  check(dead.status === 400, `no refresh after logout (${dead.status})`);
  const sessions = await page.evaluate(async (token) => {
    const r = await fetch("/sessions", { headers: { authorization: `Bearer ${token}` } });
    return r.status;
  }, access);
  check(sessions === 401, "the logged-out session's access token is refused");
  console.log("all ok");
} finally {
  await browser.close();
}
