#!/usr/bin/python3
"""Processes user data with cloud-init's own library, the way a guest does.

Prints JSON: the parts cloud-init found (content type and decoded payload) and the
cloud-config it would act on after merging every cloud-config part (Merge-Type headers
honoured). Reads the raw user-data bytes from the file named on the command line.
"""
import json
import sys
import tempfile

from cloudinit import helpers, user_data
from cloudinit.handlers.cloud_config import CloudConfigPartHandler


def main(path):
    with open(path, "rb") as f:
        blob = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        paths = helpers.Paths({"cloud_dir": tmp, "run_dir": tmp})
        message = user_data.UserDataProcessor(paths).process(blob)
        handler = CloudConfigPartHandler(paths)
        handler.cloud_buf = {}
        parts = []
        for part in message.walk():
            if part.is_multipart():
                continue
            ctype = part.get_content_type()
            payload = part.get_payload(decode=True).decode("utf-8")
            parts.append({"type": ctype, "payload": payload})
            if ctype == "text/cloud-config":
                handler._merge_part(payload, dict(part.items()))
    print(json.dumps({"parts": parts, "cloudConfig": handler.cloud_buf}, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
