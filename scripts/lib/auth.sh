# shellcheck shell=bash
# Signing in to a running Carebook from scripts: the password step, and for
# accounts with a second factor (every admin) the TOTP step, with the code an
# authenticator app would show. Source it; it defines functions only.
#
#   token=$(carebook_login "$GATEWAY" staff@demo.carebook.test "$DEMO_PASSWORD")
#   admin=$(carebook_login "$GATEWAY" admin@demo.carebook.test "$DEMO_PASSWORD" "$DEMO_ADMIN_TOTP_SECRET")
#
# Needs curl, jq and python3 (for the HMAC of the code).

# The demo admin's TOTP secret (crates/carebook/src/seed.rs, DEMO_ADMIN_TOTP_SECRET).
DEMO_ADMIN_TOTP_SECRET=INQXEZLCN5XWWRDFNVXUCZDNNFXCCMRW

# totp_code SECRET [UNIX_SECONDS]: the six-digit RFC 6238 code (SHA-1, 30 s)
# of a base32 secret, now or at the given time.
totp_code() {
  python3 - "$1" "${2:-}" <<'PY'
import base64, hashlib, hmac, struct, sys, time
secret = sys.argv[1].strip().replace(" ", "").upper()
key = base64.b32decode(secret + "=" * (-len(secret) % 8))
now = int(sys.argv[2]) if sys.argv[2] else int(time.time())
digest = hmac.new(key, struct.pack(">Q", now // 30), hashlib.sha1).digest()
offset = digest[-1] & 0x0F
value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
print("%06d" % (value % 1_000_000))
PY
}

# auth__post URL JSON: the body, then a last line with the HTTP status.
auth__post() {
  curl -sS --max-time 30 -H 'content-type: application/json' --data "$2" -w '\n%{http_code}' "$1" ||
    printf '\n000'
}

# carebook_login BASE_URL EMAIL PASSWORD [TOTP_SECRET]: an access token on
# stdout. With a secret, answers the second step of a login that asks for one.
# A code works once per 30-second step and account: if identity refuses it
# (another login just used it), the next step's code is sent.
carebook_login() {
  local base=$1 email=$2 password=$3 secret=${4:-} out status body mfa_token attempt
  out=$(auth__post "$base/api/v1/auth/login" \
    "$(jq -cn --arg e "$email" --arg p "$password" '{email: $e, password: $p}')")
  status=${out##*$'\n'}
  body=${out%$'\n'*}
  if [ "$status" != 200 ]; then
    echo "login: HTTP $status $(head -c 300 <<<"$body")" >&2
    return 1
  fi
  if [ "$(jq -r '.mfa_required // false' <<<"$body")" != true ]; then
    jq -er .access_token <<<"$body"
    return
  fi
  if [ -z "$secret" ]; then
    echo "login: the account asks for a second factor and no TOTP secret was given" >&2
    return 1
  fi
  mfa_token=$(jq -r .mfa_token <<<"$body")
  for attempt in 1 2 3; do
    out=$(auth__post "$base/api/v1/auth/mfa/verify" \
      "$(jq -cn --arg t "$mfa_token" --arg c "$(totp_code "$secret")" '{mfa_token: $t, code: $c}')")
    status=${out##*$'\n'}
    body=${out%$'\n'*}
    if [ "$status" = 200 ]; then
      jq -er .access_token <<<"$body"
      return
    fi
    if [ "$status" != 401 ] || [ "$attempt" = 3 ]; then break; fi
    # The code of this step was used: wait for the next step.
    sleep $((30 - $(date +%s) % 30 + 1))
  done
  echo "login: second factor refused: HTTP $status $(head -c 300 <<<"$body")" >&2
  return 1
}
