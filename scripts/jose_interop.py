#!/usr/bin/env python3
"""JWE interop with jwcrypto (Latchset's JOSE library for Python), for the Rust tests.

The wallet's backup JWE (`dir` + A256GCM) and the OpenID4VP `direct_post.jwt` JWE (ECDH-ES on
P-256) are checked against an independent implementation in both directions. Usage (plaintext
or JWE on stdin, result on stdout):

  jose_interop.py decrypt JWK_JSON          # compact JWE -> plaintext
  jose_interop.py encrypt JWK_JSON HEADER   # plaintext -> compact JWE with that protected header

Exit status 3 means jwcrypto is not installed (`python3 -m pip install jwcrypto`): the tests
then say they skipped the interop half. Any JOSE error is exit status 1 with the message.
"""
import json
import sys

try:
    from jwcrypto import jwe, jwk
except ImportError:
    print("jwcrypto is not installed (python3 -m pip install jwcrypto)", file=sys.stderr)
    sys.exit(3)


def main() -> int:
    command, key = sys.argv[1], jwk.JWK(**json.loads(sys.argv[2]))
    data = sys.stdin.buffer.read()
    try:
        if command == "decrypt":
            token = jwe.JWE()
            token.deserialize(data.decode(), key=key)
            sys.stdout.buffer.write(token.payload)
        elif command == "encrypt":
            token = jwe.JWE(data, protected=sys.argv[3])
            token.add_recipient(key)
            sys.stdout.write(token.serialize(compact=True))
        else:
            print(f"unknown command {command}", file=sys.stderr)
            return 2
    except Exception as error:  # jwcrypto raises several types; the message is what counts
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
