"""Test stand-ins for the D-Bus services that keep a computer awake, on a private dbus-daemon.

Run as ``python fakebus.py ADDRESS LOG SERVICE[:refuse[=N]]...``. Services: login1 (Manager.Inhibit, returning
a real file descriptor whose closing it watches), powermanagement, screensaver, gnome. Every call, every
release and every client that leaves the bus is written to LOG as one JSON line. Prints "ready" when its names
are owned.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import sys
import time
from typing import Any

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_call, new_method_return
from jeepney.bus_messages import MatchRule, message_bus
from jeepney.io.blocking import open_dbus_connection

SERVICES: dict[str, tuple[str, str, str, dict[str, tuple[str, str]]]] = {
    # key: (bus name, object path, interface, {method: (in signature, out signature)})
    "login1": (
        "org.freedesktop.login1",
        "/org/freedesktop/login1",
        "org.freedesktop.login1.Manager",
        {"Inhibit": ("ssss", "h")},
    ),
    "powermanagement": (
        "org.freedesktop.PowerManagement",
        "/org/freedesktop/PowerManagement/Inhibit",
        "org.freedesktop.PowerManagement.Inhibit",
        {"Inhibit": ("ss", "u"), "UnInhibit": ("u", "")},
    ),
    "screensaver": (
        "org.freedesktop.ScreenSaver",
        "/org/freedesktop/ScreenSaver",
        "org.freedesktop.ScreenSaver",
        {"Inhibit": ("ss", "u"), "UnInhibit": ("u", "")},
    ),
    "gnome": (
        "org.gnome.SessionManager",
        "/org/gnome/SessionManager",
        "org.gnome.SessionManager",
        {"Inhibit": ("susu", "u"), "Uninhibit": ("u", "")},
    ),
}


def main() -> None:
    address, log_path, *specs = sys.argv[1:]
    refuse: dict[str, int] = {}
    wanted = []
    for spec in specs:
        key, _, rule = spec.partition(":")
        wanted.append(key)
        if rule.startswith("refuse"):
            refuse[key] = int(rule.partition("=")[2] or 10**9)
    log = open(log_path, "a", buffering=1)

    def record(event: str, **fields: Any) -> None:
        log.write(json.dumps({"event": event, "t": time.time(), **fields}) + "\n")

    conn = open_dbus_connection(bus=address, enable_fds=True)
    for key in wanted:
        conn.send_and_get_reply(message_bus.RequestName(SERVICES[key][0], 4))
    match = MatchRule(type="signal", sender="org.freedesktop.DBus", member="NameOwnerChanged")
    conn.send_and_get_reply(message_bus.AddMatch(match))
    by_object = {(SERVICES[k][1], SERVICES[k][2]): k for k in wanted}
    cookies = itertools.count(1)
    holders: dict[str, set[str]] = {}
    watched: dict[int, dict[str, Any]] = {}
    print("ready", flush=True)
    while True:
        if watched:
            ready, _, _ = select.select(list(watched), [], [], 0)
            for fd in ready:
                if os.read(fd, 1) == b"":
                    info = watched.pop(fd)
                    os.close(fd)
                    record("fd_closed", **info)
        try:
            msg = conn.receive(timeout=0.05)
        except TimeoutError:
            continue
        hdr = msg.header
        if hdr.message_type == MessageType.signal and hdr.fields.get(HeaderFields.member) == "NameOwnerChanged":
            name, old, new = msg.body
            if name.startswith(":") and not new and name in holders:
                record("client_gone", client=name, services=sorted(holders.pop(name)))
            continue
        if hdr.message_type != MessageType.method_call:
            continue
        path, iface = hdr.fields.get(HeaderFields.path), hdr.fields.get(HeaderFields.interface)
        member, sender = hdr.fields.get(HeaderFields.member), hdr.fields.get(HeaderFields.sender)
        key = by_object.get((path, iface))
        if key is None or member not in SERVICES[key][3]:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (f"no {iface}.{member}",)))
            continue
        record("call", service=key, method=member, args=list(msg.body), sender=sender)
        if refuse.get(key, 0) > 0:
            refuse[key] -= 1
            record("refused", service=key)
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.AccessDenied", "s", ("Permission denied (polkit)",)))
            continue
        holders.setdefault(sender, set()).add(key)
        out = SERVICES[key][3][member][1]
        if out == "h":
            read_end, write_end = os.pipe()
            watched[read_end] = {"service": key, "sender": sender}
            conn.send(new_method_return(msg, "h", (write_end,)))
            os.close(write_end)
        elif out == "u":
            conn.send(new_method_return(msg, "u", (next(cookies),)))
        else:
            conn.send(new_method_return(msg))


if __name__ == "__main__":
    _ = (DBusAddress, new_method_call)
    main()
