# The one source list, read by both Makefile (GNU make) and nmake.mak (MSVC).
# Keep it to plain "NAME = files" assignments so both tools parse it.

# Pure modules: no windows.h; also built natively for sanitizers and fuzzing.
PURE_SRC = src/sha256.c src/pe_version.c src/json.c src/scope.c src/conf.c \
	src/nats_proto.c src/js_ack.c src/rollout.c \
	src/broker_conf.c src/sign.c src/trust.c src/url.c src/http_proto.c

# Win32 modules shared by both executables.
WIN_SRC = src/win.c src/log.c src/tls.c src/nats_glue.c src/nats_api.c src/nats_srv.c src/jetstream.c src/rollout_kv.c \
	src/kv.c src/objstore.c

# kanade-agent.exe only.
AGENT_SRC = src/fsec.c src/service.c src/update.c src/upd_state.c src/upd_swap.c src/upd_trust.c src/agent.c src/agent_cfg.c src/agent_sync.c src/agent_trust.c src/agent_run.c \
	src/agent_ro.c

# kanade.exe only.
CLI_SRC = src/cli.c src/cli_util.c src/cli_release.c src/cli_rollout.c src/cli_fleet.c src/cli_js.c src/cli_broker.c src/cli_rollctl.c \
	src/cli_serve.c src/http_server.c src/cli_sign.c
