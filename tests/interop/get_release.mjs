// get_release.mjs — the nats.js side of the kanade.exe publish interop check
// (tests/it_cli.sh): reads one release from an object store with the
// official client, hashes the bytes it received, and prints
//
//   <sha256 hex of the bytes> <byte count> <info.digest> <digest as hex>
//
// so the test can compare them with `sha256sum` of the published file.
// nats.js itself also verifies the digest while reading (r.error).
//
//   node get_release.mjs URL BUCKET NAME
//
// Exit codes: 0 ok, 1 failure, 3 not found.
import { connect } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { createHash } from "node:crypto";

const [url, bucket, name] = process.argv.slice(2);
if (!url || !bucket || !name) {
  console.error("usage: node get_release.mjs URL BUCKET NAME");
  process.exit(2);
}

const nc = await connect({ servers: url, name: "interop-get-release" });
let code = 0;
try {
  const os = await new Objm(nc).open(bucket);
  const r = await os.get(name);
  if (!r) {
    console.error(`${bucket}/${name} not found`);
    code = 3;
  } else {
    const h = createHash("sha256");
    let n = 0;
    for await (const chunk of r.data) {
      h.update(chunk);
      n += chunk.length;
    }
    const err = await r.error;
    if (err) throw err;
    // The recorded digest: "SHA-256=" + base64url (padded); decode to hex.
    const b64 = r.info.digest.replace(/^SHA-256=/i, "").replace(/-/g, "+").replace(/_/g, "/");
    const hex = Buffer.from(b64, "base64").toString("hex");
    console.log(`${h.digest("hex")} ${n} ${r.info.digest} ${hex}`);
  }
} catch (err) {
  console.error(`error: ${err.message}`);
  code = 1;
}
await nc.close();
process.exit(code);
