"""The settings module decides, at import, between the embedded local setup and a
deployment. Each case imports it in a fresh interpreter with only the environment given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
KEY = "k3y-for-tests-only-" + "x7Qp2vR9sT4wY6zA1bC3dE5fG8hJ0kL"  # 50 characters, varied


def run_python(code: str, env: dict[str, str], cwd: Path = BASE_DIR) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def production_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    return {
        "STUDIO_VAR_DIR": str(var_dir),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": KEY,
        "DJANGO_ALLOWED_HOSTS": "studio.example.com",
        **overrides,
    }


CHECK_DEPLOY = (
    "from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])"
)


SHOW_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({name: getattr(settings, name) for name in (
    "DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER")}))
"""


def test_without_a_secret_key_and_with_debug_off_the_site_refuses_to_start(tmp_path):
    env = production_env(tmp_path)
    del env["DJANGO_SECRET_KEY"]
    result = run_python(SHOW_SETTINGS, env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set, and DEBUG is off" in result.stderr
    assert not (tmp_path / "secret_key").exists(), "no per-host key may be generated"


def test_a_site_served_under_a_real_name_is_not_in_debug_mode_unless_told(tmp_path):
    """Forgetting DJANGO_DEBUG=false in a deployment must not mean debug pages and a
    per-host key: naming a public host is enough to be treated as production."""
    result = run_python(
        SHOW_SETTINGS,
        {"STUDIO_VAR_DIR": str(tmp_path), "DJANGO_ALLOWED_HOSTS": "studio.example.com"},
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set, and DEBUG is off" in result.stderr

    with_key = run_python(
        SHOW_SETTINGS,
        {
            "STUDIO_VAR_DIR": str(tmp_path),
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://studio.example.com",
            "DJANGO_SECRET_KEY": KEY,
        },
    )
    assert with_key.returncode == 0, with_key.stderr
    assert json.loads(with_key.stdout)["DEBUG"] is False


def test_the_local_setup_needs_no_configuration_and_keeps_its_key(tmp_path):
    first = run_python(SHOW_SETTINGS, {"STUDIO_VAR_DIR": str(tmp_path)})
    assert first.returncode == 0, first.stderr
    values = json.loads(first.stdout)
    assert values["DEBUG"] is True
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    key = (tmp_path / "secret_key").read_text()
    again = run_python(SHOW_SETTINGS, {"STUDIO_VAR_DIR": str(tmp_path)})
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "secret_key").read_text() == key


def test_production_is_https_only_by_default(tmp_path):
    result = run_python(SHOW_SETTINGS, production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_behind_a_tls_proxy_plain_http_is_redirected_and_https_gets_hsts_and_secure_cookies(
    tmp_path,
):
    code = """
import django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="studio.example.com")
plain = client.get("/accounts/login/")
assert plain.status_code == 301, plain.status_code
assert plain["Location"] == "https://studio.example.com/accounts/login/", plain["Location"]
tls = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
assert tls.status_code == 200, tls.status_code
assert tls["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains", tls.headers
assert tls.cookies["csrftoken"]["secure"] is True
print("ok")
"""
    env = production_env(tmp_path, DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_check_deploy_is_clean_with_the_production_environment(tmp_path):
    result = run_python(CHECK_DEPLOY, production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_when_a_production_safeguard_is_turned_off(tmp_path):
    result = run_python(CHECK_DEPLOY, production_env(tmp_path, DJANGO_SECURE_SSL_REDIRECT="false"))
    assert result.returncode != 0
    assert "security.W008" in result.stderr + result.stdout
