// attack.mjs — a PC's credential used as an attacker would, against the
// broker layout of 'kanade broker config'. Prints one line per attempt:
// "<case> answered <text>" when the broker answered, "<case> no-answer"
// otherwise. The test then checks that nothing landed.
//   node attack.mjs URL USER PASSWORD
import { connect, headers } from "@nats-io/transport-node";

const [url, user, pass] = process.argv.slice(2);
const nc = await connect({ servers: url, user, pass, name: "attacker" });
(async () => { for await (const s of nc.status()) if (s.type === "error") console.log(`async-error ${s.error?.message ?? s.data}`); })();
const evil = JSON.stringify({ target_version: "0.0.1-evil" });

async function req(name, subj, body) {
  try {
    const m = await nc.request(subj, body ?? "", { timeout: 1500 });
    console.log(`${name} answered ${m.string().slice(0, 120)}`);
  } catch (e) {
    console.log(`${name} no-answer`);
  }
}

nc.publish("$KV.agent_config.global", evil);
nc.publish("$KV.agent_status.pc1", evil, { reply: "$KV.agent_config.global" });
nc.publish("$JS.API.DIRECT.GET.KV_agent_status.$KV.agent_status.pc1", "", { reply: "$KV.agent_config.global" });
nc.publish("$JS.API.DIRECT.GET.KV_agent_config.$KV.agent_config.global", "", { reply: "$KV.agent_config.global" });
nc.publish("$KV.agent_status.pc2", evil);
await nc.flush();
await req("status-own", "$KV.agent_status.pc1", JSON.stringify({ pc_id: user }));
await req("read-other-pcs", "$JS.API.DIRECT.GET.KV_agent_config.$KV.agent_config.pcs.pc2");
await req("read-own-pcs", "$JS.API.DIRECT.GET.KV_agent_config.$KV.agent_config.pcs." + user);
await req("obj-put", "$O.agent_releases.C.evil", "chunk");
await req("stream-delete", "$JS.API.STREAM.DELETE.KV_agent_config");
await req("stream-purge", "$JS.API.STREAM.PURGE.KV_agent_config");
await req("consumer-create", "$JS.API.CONSUMER.CREATE.KV_agent_config",
  JSON.stringify({ stream_name: "KV_agent_config", config: { deliver_policy: "all", ack_policy: "none" } }));
await req("consumer-delete", "$JS.API.CONSUMER.DELETE.KV_agent_config.x");
await nc.flush();
await new Promise((r) => setTimeout(r, 300));
await nc.close();
