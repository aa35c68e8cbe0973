"""A gateway set up for receipt copies through the simulator's GOV.UK Notify."""

import os
import secrets
import uuid

EMAIL_TEMPLATE = "5b2a1c8e-3d4f-4a6b-9c7d-1e2f3a4b5c6d"  # sim/data/notify.json
SMS_TEMPLATE = "6c3b2d9f-4e5a-4b7c-8d8e-2f3a4b5c6d7e"


def notify_key():
    return f"onestop_test-{uuid.uuid4()}-{uuid.uuid4()}"


def with_notify(gw, gateway_key=None, sim_key=None, timeout_ms=10000):
    """Configures gw (not yet started) for copies: the sim checks sim_key's JWTs, the gateway
    signs with gateway_key (the same by default); callbacks carry a fresh bearer token."""
    sim_key = sim_key or notify_key()
    gateway_key = gateway_key or sim_key
    token = secrets.token_hex(24)
    for name, value in (("notify.key", gateway_key), ("notify-sim.key", sim_key),
                        ("notify-callback.token", token)):
        path = os.path.join(gw.keys_dir, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(value + "\n")
    gw.config["notify"] = {
        "url": f"http://127.0.0.1:{gw.sim_port}/notify",
        "api_key_file": "keys/notify.key",
        "callback_token_file": "keys/notify-callback.token",
        "timeout_ms": timeout_ms,
        "templates": [{"service": "*", "language": "en", "email": EMAIL_TEMPLATE,
                       "sms": SMS_TEMPLATE}],
    }
    gw.write_config()
    gw.sim_args += ["--notify-api-key", os.path.join(gw.keys_dir, "notify-sim.key"),
                    "--notify-callback-token", os.path.join(gw.keys_dir, "notify-callback.token")]
    gw.notify_token = token
    return gw
