// sign.mjs — the nats.js side of tests/it_sign.sh.
//
//   node sign.mjs URL headers BUCKET NAME
//       prints "<Kanade-Signature> <Kanade-Key-Id> <size> <sha256 hex>" as
//       nats.js's object store reads a release's info ("-" when absent).
//   node sign.mjs URL set-headers BUCKET NAME SIG KEYID
//       rewrites the object's meta with these two headers ("-" drops one),
//       everything else kept: what someone with write access to the
//       store could do to a release.
//   node sign.mjs URL reply-trick KEY VALUE
//       puts VALUE into agent_status/KEY, then asks JetStream's direct get
//       for it with the reply subject $KV.agent_config.global, so the
//       server itself stores VALUE as agent_config/global.
//
// Exit codes: 0 ok, 1 failure, 3 not found.
import { connect, headers } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";

const [url, cmd, ...args] = process.argv.slice(2);
const nc = await connect({ servers: url, name: "interop-sign" });
const metaSubject = (bucket, name) =>
  `$O.${bucket}.M.${Buffer.from(name).toString("base64").replace(/\+/g, "-").replace(/\//g, "_")}`;
let code = 0;
try {
  if (cmd === "headers") {
    const [bucket, name] = args;
    const os = await new Objm(nc).open(bucket);
    const info = await os.info(name);
    if (!info) { code = 3; throw new Error(`${bucket}/${name} not found`); }
    const h = info.headers;
    const hex = Buffer.from(info.digest.replace(/^SHA-256=/, ""), "base64url").toString("hex");
    console.log(`${h?.get("Kanade-Signature") || "-"} ${h?.get("Kanade-Key-Id") || "-"} ${info.size} ${hex}`);
  } else if (cmd === "set-headers") {
    const [bucket, name, sig, keyid] = args;
    const jsm = await jetstreamManager(nc);
    const subj = metaSubject(bucket, name);
    const m = await jsm.streams.getMessage(`OBJ_${bucket}`, { last_by_subj: subj });
    const meta = m.json();
    meta.headers = {};
    if (sig !== "-") meta.headers["Kanade-Signature"] = [sig];
    if (keyid !== "-") meta.headers["Kanade-Key-Id"] = [keyid];
    const h = headers();
    h.set("Nats-Rollup", "sub");
    await jetstream(nc).publish(subj, JSON.stringify(meta), { headers: h });
    console.log("ok");
  } else if (cmd === "reply-trick") {
    const [key, value] = args;
    const kv = await new Kvm(nc).open("agent_status");
    await kv.put(key, value);
    nc.publish(`$JS.API.DIRECT.GET.KV_agent_status.$KV.agent_status.${key}`, "",
      { reply: "$KV.agent_config.global" });
    await nc.flush();
    console.log("ok");
  } else {
    console.error("usage: node sign.mjs URL headers|set-headers|reply-trick ...");
    code = 2;
  }
} catch (e) {
  console.error(e.message ?? String(e));
  if (code === 0) code = 1;
}
await nc.close();
process.exit(code);
