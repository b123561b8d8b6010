"""Location repositories that exist before a test's first backup, for the tests whose subject comes
after it (drills, restores, a location failing later): real restic opens them, at a fraction of the
key derivation's cost.

Why: restic 0.14 (Debian 12's) calibrates its key derivation at `restic init` to take 0.5 s on the
machine (scrypt N=32768, r=8, p=6 here: 2.3 s of CPU for the init, 0.6 s for every later command
that opens the repository). It has no option to choose the parameters, so the suite spent a third
of its CPU time in scrypt. A seeded repository is what `restic init` writes, made here:
- `config`: version 2, a random id, and the chunker polynomial of one real `restic init` per test
  process (restic's own, valid and irreducible), sealed with a new random master key;
- one key file for the password, with scrypt N=16384, r=8, p=1: restic's own floor
  (`crypto.DefaultKDFParams`), which restic writes itself where its calibration finds those slower
  than 0.5 s. Sealed as restic seals (AES-256-CTR, Poly1305-AES over the ciphertext; the file named
  by the SHA-256 of its content), so restic reads it with its own code.
Every seeded repository has its own id and master key, as two inits would give: two locations never
share restic's cache directory.

Where this is looser than production (tests/README.md): a seeded location skips the job's own
`restic init` on its first run. The init path keeps its own tests, unseeded:
`test_onprem_backup_with_the_plans_key_into_two_locked_locations` (on-premise, with the plan's key
into locked buckets), `test_file_level_backup_signs_for_the_repository_region_and_inits_with_the_plans_role`
(cloud) and the first runs in `test_onprem_backup.py`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.poly1305 import Poly1305

FLOOR = {"N": 16384, "r": 8, "p": 1}  # restic's crypto.DefaultKDFParams (simple-scrypt's defaults)


def _derive(password: str, salt: bytes, N: int, r: int, p: int) -> tuple[bytes, bytes, bytes]:  # noqa: N803
    """restic's crypto.KDF: 64 bytes of scrypt, the encryption key then the MAC key as k || r."""
    raw = hashlib.scrypt(password.encode(), salt=salt, n=N, r=r, p=p, maxmem=1 << 30, dklen=64)
    return raw[:32], raw[32:48], raw[48:]


def _tag(keys: tuple[bytes, bytes, bytes], nonce: bytes, ciphertext: bytes) -> bytes:
    _, k, r = keys  # Poly1305-AES: the one-time key is r || AES-128_k(nonce)
    aes = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
    return Poly1305.generate_tag(r + aes.update(nonce) + aes.finalize(), ciphertext)


def seal(keys: tuple[bytes, bytes, bytes], plaintext: bytes) -> bytes:
    """restic's crypto.SealBytes: nonce || AES-256-CTR ciphertext || MAC."""
    nonce = os.urandom(16)
    encryptor = Cipher(algorithms.AES(keys[0]), modes.CTR(nonce)).encryptor()
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + ciphertext + _tag(keys, nonce, ciphertext)


def unseal(keys: tuple[bytes, bytes, bytes], sealed: bytes) -> bytes:
    nonce, ciphertext, tag = sealed[:16], sealed[16:-16], sealed[-16:]
    if _tag(keys, nonce, ciphertext) != tag:
        raise ValueError("the MAC does not match: wrong key or damaged data")
    decryptor = Cipher(algorithms.AES(keys[0]), modes.CTR(nonce)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


@functools.lru_cache(maxsize=1)
def chunker_polynomial() -> str:
    """The polynomial of one real `restic init` (once per test process)."""
    password = base64.b64encode(os.urandom(12)).decode()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["restic", "-r", f"{tmp}/repo", "init", "--quiet"], check=True, capture_output=True,
                       env={**os.environ, "RESTIC_PASSWORD": password})
        (key_file,) = Path(f"{tmp}/repo/keys").iterdir()
        key = json.loads(key_file.read_text())
        user = _derive(password, base64.b64decode(key["salt"]), N=key["N"], r=key["r"], p=key["p"])
        master = json.loads(unseal(user, base64.b64decode(key["data"])))
        master_keys = (base64.b64decode(master["encrypt"]), base64.b64decode(master["mac"]["k"]),
                       base64.b64decode(master["mac"]["r"]))
        config = json.loads(unseal(master_keys, Path(f"{tmp}/repo/config").read_bytes()))
    return config["chunker_polynomial"]


def repository_files(password: str) -> dict[str, bytes]:
    """{name inside the repository: content}: a new, empty restic repository for `password`."""
    encrypt, k, r = os.urandom(32), os.urandom(16), os.urandom(16)
    config = json.dumps({"version": 2, "id": os.urandom(32).hex(), "chunker_polynomial": chunker_polynomial()})
    salt = os.urandom(64)
    master = json.dumps({"mac": {"k": base64.b64encode(k).decode(), "r": base64.b64encode(r).decode()},
                         "encrypt": base64.b64encode(encrypt).decode()})
    key = json.dumps({
        "created": datetime.now(timezone.utc).isoformat(), "username": "root", "hostname": "test-seed",
        "kdf": "scrypt", **FLOOR, "salt": base64.b64encode(salt).decode(),
        "data": base64.b64encode(seal(_derive(password, salt, **FLOOR), master.encode())).decode(),
    }).encode()
    return {"config": seal((encrypt, k, r), config.encode()), f"keys/{hashlib.sha256(key).hexdigest()}": key}


def seed(s3, bucket: str, prefix: str, password: str) -> None:
    """A new repository at s3://bucket/prefix (prefix as names.repository_prefix gives it)."""
    for name, body in repository_files(password).items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=body)
