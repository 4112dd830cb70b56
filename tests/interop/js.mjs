// js.mjs — the nats.js (3.x) side of the interop tests and the object
// benchmark. Same subcommands and output lines as tests/tool_js.c, so a
// test can swap the writer and the reader:
//
//   node js.mjs URL kv-open B [HIST] | kv-bind B | kv-get B K | kv-put B K V
//   node js.mjs URL kv-del B K | kv-watch B SPEC COUNT SECONDS | kv-fill B PREFIX N
//   node js.mjs URL obj-open B | obj-put B NAME FILE | obj-get B NAME FILE
//   node js.mjs URL obj-info B NAME | obj-list B | obj-del B NAME
//
// Exit codes: 0 ok, 1 failure, 3 not found, 4 timeout, 7 digest mismatch.
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { createReadStream, createWriteStream, statSync } from "node:fs";
import { Readable, Writable } from "node:stream";

const [url, cmd, ...args] = process.argv.slice(2);
if (!url || !cmd) {
  console.error("usage: node js.mjs URL COMMAND ARGS");
  process.exit(2);
}

const nc = await connect({ servers: url, name: "interop-js" });
let code = 0;

function entryLine(e) {
  const value = e.operation === "PUT" ? e.string() : "";
  return `${e.revision} ${e.operation} ${e.key} ${value}`;
}

function infoLine(i) {
  return `${i.name} ${i.size} ${i.chunks} ${i.digest || "-"} ${i.deleted ? "deleted" : "live"} ${i.nuid}`;
}

async function kvBind(b) {
  return await new Kvm(nc).open(b);
}

try {
  switch (cmd) {
    case "kv-open": {
      await new Kvm(nc).create(args[0], { history: Number(args[1] || 1) });
      console.log("ok");
      break;
    }
    case "kv-bind": {
      const kv = await kvBind(args[0]);
      await kv.status(); // fails when the bucket is missing
      console.log("ok");
      break;
    }
    case "kv-put": {
      const kv = await kvBind(args[0]);
      console.log(await kv.put(args[1], args[2]));
      break;
    }
    case "kv-get": {
      const kv = await kvBind(args[0]);
      const e = await kv.get(args[1]);
      if (!e || e.operation !== "PUT") {
        console.error(`not found${e ? " (" + e.operation + ")" : ""}`);
        code = 3;
      } else {
        console.log(`${e.revision} ${e.created.getTime()} ${e.string()}`);
      }
      break;
    }
    case "kv-fill": {
      // kv-fill B PREFIX N: puts PREFIX.0 .. PREFIX.(N-1), each twice.
      const kv = await kvBind(args[0]);
      const n = Number(args[2]);
      for (let round = 0; round < 2; round++) {
        await Promise.all(Array.from({ length: n }, (_, i) => kv.put(`${args[1]}.${i}`, `v${round}`)));
      }
      console.log("ok");
      break;
    }
    case "kv-del": {
      const kv = await kvBind(args[0]);
      await kv.delete(args[1]);
      console.log("ok");
      break;
    }
    case "kv-watch": {
      // Prints entries as tool_js does; "INIT_DONE" when the first update
      // (isUpdate) arrives is not comparable, so it is left out here.
      const kv = await kvBind(args[0]);
      const count = Number(args[2]);
      const it = await kv.watch({ key: args[1] });
      const timer = setTimeout(() => { code = 4; it.stop(); }, Number(args[3]) * 1000);
      console.log("READY");
      let got = 0;
      for await (const e of it) {
        console.log(entryLine(e));
        if (++got >= count) break;
      }
      clearTimeout(timer);
      break;
    }
    case "obj-open": {
      await new Objm(nc).create(args[0]);
      console.log("ok");
      break;
    }
    case "obj-put": {
      const os = await new Objm(nc).create(args[0]);
      const t0 = performance.now();
      const info = await os.put({ name: args[1] }, Readable.toWeb(createReadStream(args[2])));
      console.error(`time_ms=${Math.round(performance.now() - t0)}`);
      console.log(infoLine(info));
      break;
    }
    case "obj-get": {
      const os = await new Objm(nc).open(args[0]);
      const t0 = performance.now();
      const r = await os.get(args[1]);
      if (!r) {
        console.error("not found");
        code = 3;
        break;
      }
      await r.data.pipeTo(Writable.toWeb(createWriteStream(args[2])));
      const err = await r.error;
      if (err) {
        console.error(`error: ${err.message}`);
        code = /digest/i.test(err.message) ? 7 : 1;
        break;
      }
      console.error(`time_ms=${Math.round(performance.now() - t0)}`);
      console.log(`${infoLine(r.info)} ${statSync(args[2]).size}`);
      break;
    }
    case "obj-info": {
      const os = await new Objm(nc).open(args[0]);
      const i = await os.info(args[1]);
      if (!i) { console.error("not found"); code = 3; } else console.log(infoLine(i));
      break;
    }
    case "obj-del": {
      const os = await new Objm(nc).open(args[0]);
      await os.delete(args[1]);
      console.log("ok");
      break;
    }
    case "obj-list": {
      const os = await new Objm(nc).open(args[0]);
      for (const i of await os.list()) console.log(infoLine(i));
      console.log("END");
      break;
    }
    default:
      console.error(`unknown command ${cmd}`);
      code = 2;
  }
} catch (err) {
  console.error(`error: ${err.message}`);
  code = code || 1;
}
await nc.close();
process.exit(code);
