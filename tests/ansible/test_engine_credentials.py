"""The engine role delivers the API key from Ansible Vault as systemd credentials: the role's credential tasks run
for real (into a temporary directory) with a vault-encrypted key, the unit is rendered and passes
`systemd-analyze verify`, no file readable by anyone but its owner holds the secret, Ansible's output never shows
it, a second run changes nothing, and the engine reads the key back from $CREDENTIALS_DIRECTORY."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from ansiblerun import ROOT, engine_render_playbook, recap, run
from tickwire.deribit.auth import Credentials

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the credentials are root-owned files")

CLIENT_ID, SECRET = "Vault1d", "vault-S3cret-5d1e0b9a"
HOST_KEY = Path("/var/lib/systemd/credential.secret")  # systemd-creds makes it on first use

@pytest.fixture
def host_key_restored():
    """systemd-creds creates the host's credential key when it encrypts the first time: remove it again then."""
    existed = HOST_KEY.exists()
    yield
    if not existed:
        HOST_KEY.unlink(missing_ok=True)


def _deliver(tmp_path: Path, encrypt: str) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    password = tmp_path / "vault-pass"
    password.write_text("vault-password-for-the-test\n")
    password.chmod(0o600)
    vault = tmp_path / "vault.yml"
    vault.write_text(f"tickwire_engine_client_id: {CLIENT_ID}\ntickwire_engine_client_secret: {SECRET}\n")
    enc = run("ansible-vault", "encrypt", "--vault-password-file", str(password), str(vault), cwd=tmp_path)
    assert enc.returncode == 0, enc.stderr
    assert SECRET not in vault.read_text()  # the key is stored encrypted
    out = tmp_path / "out"
    out.mkdir()
    playbook = tmp_path / "deliver.yml"
    playbook.write_text(engine_render_playbook((str(vault),), credentials=True))
    args = ("ansible-playbook", "-v", "-i", "localhost,", str(playbook), "--vault-password-file", str(password),
            "-e", f"out={out}", "-e", f"tickwire_engine_credentials_dir={out}/credentials",
            "-e", f"tickwire_engine_venv={ROOT / '.venv'}", "-e", f"tickwire_engine_credentials_encrypt={encrypt}",
            "-e", '{"tickwire_engine_config": {"venue": "testnet", "instruments": ["BTC-PERPETUAL"]}}')
    runs = [run(*args, cwd=tmp_path), run(*args, cwd=tmp_path)]
    for r in runs:
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    return out, runs


def _assert_no_secret_where_others_read(out: Path, runs: list[subprocess.CompletedProcess[str]]) -> None:
    for r in runs:
        assert SECRET not in r.stdout + r.stderr  # no_log everywhere the key passes
    assert recap(runs[1].stdout)["changed"] == 0, runs[1].stdout[-3000:]  # converged: nothing re-written
    unit = (out / "tickwire-engine.service").read_text()
    assert SECRET not in unit and SECRET not in (out / "engine.toml").read_text()
    assert "ExecStart=" in unit and SECRET not in unit.split("ExecStart=")[1].split("\n")[0]
    creds = out / "credentials"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700 and creds.stat().st_uid == 0
    for path in out.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_file() and mode & 0o077:
            assert SECRET.encode() not in path.read_bytes(), f"{path} ({oct(mode)}) holds the secret"
        if path.is_file() and path.parent == creds:
            assert mode == 0o600 and path.stat().st_uid == 0, path
    verify = subprocess.run(["systemd-analyze", "verify", "--man=no", str(out / "tickwire-engine.service")],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr


def test_plain_credential_files_root_only_and_read_back_by_the_engine(tmp_path):
    out, runs = _deliver(tmp_path, "false")
    _assert_no_secret_where_others_read(out, runs)
    unit = (out / "tickwire-engine.service").read_text()
    assert f"LoadCredential=client_secret:{out}/credentials/client_secret" in unit
    assert (out / "credentials" / "client_secret").read_text() == SECRET  # the check above can fail
    creds = Credentials.load(environ={"CREDENTIALS_DIRECTORY": str(out / "credentials")})
    assert (creds.client_id, creds.client_secret) == (CLIENT_ID, SECRET)


def test_encrypted_credentials_with_systemd_creds(tmp_path, host_key_restored):
    out, runs = _deliver(tmp_path, "true")
    _assert_no_secret_where_others_read(out, runs)
    unit = (out / "tickwire-engine.service").read_text()
    assert f"LoadCredentialEncrypted=client_secret:{out}/credentials/client_secret.cred" in unit
    sealed = out / "credentials" / "client_secret.cred"
    assert SECRET.encode() not in sealed.read_bytes()
    # what systemd does at start: decrypt into the service's $CREDENTIALS_DIRECTORY
    plain = tmp_path / "run-credentials"
    plain.mkdir(mode=0o700)
    for name in ("client_id", "client_secret"):
        got = subprocess.run(["systemd-creds", "decrypt", f"--name={name}", str(out / "credentials" / f"{name}.cred"),
                              str(plain / name)], capture_output=True, text=True, timeout=60)
        assert got.returncode == 0, got.stderr
    creds = Credentials.load(environ={"CREDENTIALS_DIRECTORY": str(plain)})
    assert (creds.client_id, creds.client_secret) == (CLIENT_ID, SECRET)


def test_a_live_venue_without_a_key_fails_the_deployment(tmp_path):
    playbook = tmp_path / "nokey.yml"
    playbook.write_text(engine_render_playbook(credentials=True))
    out = run("ansible-playbook", "-i", "localhost,", str(playbook), "-e", f"out={tmp_path}",
              "-e", '{"tickwire_engine_config": {"venue": "testnet"}}', cwd=tmp_path)
    assert out.returncode != 0
    assert "venue testnet needs an API key: set tickwire_engine_client_id" in out.stdout
    assert not (tmp_path / "tickwire-engine.service").exists()
