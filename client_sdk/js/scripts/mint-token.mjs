// A user token for development: an HS256 JWT with `sub` and `exp`, signed with the server's
// WAYMARK_USER_TOKEN_SECRET. A platform mints these on its backend.
//   node scripts/mint-token.mjs <secret> <user_id> [ttl_seconds=3600]
import { createHmac } from "node:crypto";
import { fileURLToPath } from "node:url";

export function mintToken(secret, sub, ttlSeconds = 3600) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + ttlSeconds })}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [secret, sub, ttl] = process.argv.slice(2);
  if (!secret || !sub) {
    console.error("usage: node scripts/mint-token.mjs <secret> <user_id> [ttl_seconds]");
    process.exit(2);
  }
  console.log(mintToken(secret, sub, ttl ? Number(ttl) : 3600));
}
