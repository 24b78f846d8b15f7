"""`hlodiff devices`: the devices IREE can run on here, per platform."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("devices", help="list the devices present", description=__doc__)
    p.set_defaults(handler=main)


def main(args) -> int:
    from hlodiff import runtime
    from hlodiff.runtime import devices as devices_module
    from hlodiff.runtime.targets import PLATFORMS

    for platform in PLATFORMS:
        found = runtime.devices(platform)
        for d in found:
            print(f"{platform:<7} {d!r:<19} driver {d.driver:<11} {d.name}")
        if not found:
            reason = getattr(devices_module, "_probes", {}).get(platform, {}).get("error")
            print(f"{platform:<7} (none)" + (f"  {reason}" if reason else ""))
    return 0
