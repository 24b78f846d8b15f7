"""Run as a script: `python _probe.py <driver>` prints a JSON report of the driver's devices.

`devices.py` runs this in a subprocess, once per driver and process, because creating a Vulkan
or CUDA device can hang or abort inside a broken driver stack; here that only costs the child.
Each device is actually created (not just listed), so a reported device is known to work.
Output: {"devices": [{"device_id", "path", "name"}, ...], "error": str | null}.
"""

import json
import os
import sys


def probe(driver_name: str) -> dict:
    try:
        import iree.runtime as rt

        driver = rt.get_driver(driver_name)
        infos = driver.query_available_devices()
    except Exception as e:  # noqa: BLE001 -- a missing library or ICD is an answer
        return {"devices": [], "error": _first_line(e)}
    working, errors = [], []
    for info in infos:
        try:
            driver.create_device(info)
            working.append({k: info.get(k) for k in ("device_id", "path", "name")})
        except Exception as e:  # noqa: BLE001 -- report it, probe the others
            errors.append(f"{info.get('name')}: {_first_line(e)}")
    error = "; ".join(errors) or (None if working else "the driver lists no devices")
    return {"devices": working, "error": error}


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


if __name__ == "__main__":
    report = probe(sys.argv[1])
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: some drivers crash while unloading
