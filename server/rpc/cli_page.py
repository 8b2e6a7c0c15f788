"""The HTML of the CLI approval page (GET /auth/cli?code=...): presentation only.

Signed in (session cookie): who you are, and Approve / Deny buttons that POST to ./cli/approve with
the session's CSRF token. Not signed in: paste an API key or token; the page trades it for a session
cookie at ./csrf (GET with Bearer) and reloads. Relative URLs keep the page working under any mount.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

from server.domain.identity.principal import Principal

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}"
    "code{background:#f3f3f3;padding:.1rem .3rem}button{margin-right:.5rem;padding:.4rem 1rem}"
    "input{width:100%;padding:.4rem;margin:.5rem 0}#result{margin-top:1rem;font-weight:600}"
)

_APPROVE_SCRIPT = """
async function decide(decision) {
  const response = await fetch('./cli/approve', {
    method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': document.body.dataset.csrf},
    body: JSON.stringify({code: document.body.dataset.code, decision: decision}),
  });
  const body = await response.json();
  document.getElementById('result').textContent = response.ok
    ? (body.status === 'approved' ? 'Approved. You can return to your terminal.' : 'Denied.')
    : 'Failed: ' + (body.reason || body.error);
  if (response.ok) {
    document.getElementById('approve').disabled = true;
    document.getElementById('deny').disabled = true;
  }
}
document.getElementById('approve').onclick = () => decide('approve');
document.getElementById('deny').onclick = () => decide('deny');
"""

_SIGN_IN_SCRIPT = """
document.getElementById('signin').onsubmit = async (event) => {
  event.preventDefault();
  const token = document.getElementById('token').value.trim();
  const response = await fetch('./csrf', {
    credentials: 'same-origin', headers: {'Authorization': 'Bearer ' + token},
  });
  if (response.ok) { location.reload(); return; }
  const body = await response.json().catch(() => ({}));
  document.getElementById('result').textContent =
    'That key or token was not accepted' + (body.reason ? ': ' + body.reason : '.');
};
"""


def render(code: str, status: str, principal: Principal | None) -> bytes:
    masked = f"{code[:8]}…{code[-4:]}"
    if status != "pending":
        body = (
            "<h1>HxTP CLI login</h1>"
            f'<p id="finished">The login <code>{escape(masked)}</code> is already {escape(status)}.</p>'
            "<p>Run the login again in your terminal for a new link.</p>"
        )
        return _page(body, code, "")
    if principal is None:
        body = (
            "<h1>HxTP CLI login</h1>"
            f"<p>A command-line login <code>{escape(masked)}</code> is waiting. Sign in to approve it:</p>"
            '<form id="signin"><label for="token">API key (hxtp_…) or access token</label>'
            '<input id="token" name="token" type="password" autocomplete="off" required>'
            '<button id="signin-button" type="submit">Sign in</button></form><div id="result"></div>'
            f"<script>{_SIGN_IN_SCRIPT}</script>"
        )
        return _page(body, code, "")
    tenant = principal.tenant_id or "no tenant"
    body = (
        "<h1>HxTP CLI login</h1>"
        f'<p>Signed in as <strong id="who">{escape(principal.email or principal.user_id)}</strong>'
        f" ({escape(principal.role.label)}, {escape(tenant)}).</p>"
        f"<p>Approve the command-line login <code>{escape(masked)}</code>? It will act as you.</p>"
        '<button id="approve">Approve</button><button id="deny">Deny</button><div id="result"></div>'
        f"<script>{_APPROVE_SCRIPT}</script>"
    )
    return _page(body, code, principal.csrf_token)


def render_error(reason: str) -> bytes:
    body = (
        "<h1>HxTP CLI login</h1>"
        '<p id="error">This login link is not valid: '
        f"{escape(reason)}.</p><p>Run the login again in your terminal and open the link it prints.</p>"
    )
    return _page(body, "", "")


def _page(body: str, code: str, csrf: str) -> bytes:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>HxTP CLI login</title>'
        f'<meta name="viewport" content="width=device-width"><style>{_STYLE}</style></head>'
        f'<body data-code="{escape(code)}" data-csrf="{escape(csrf)}">{body}</body></html>'
    ).encode()


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# Only this page's own inline script and style run, it talks only to its own origin, and no other
# site may frame it (clickjacking the Approve button would hand a stranger a login).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"script-src {_sha256(_APPROVE_SCRIPT)} {_sha256(_SIGN_IN_SCRIPT)}; "
    f"style-src {_sha256(_STYLE)}; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
