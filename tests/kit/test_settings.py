import pytest
from pydantic import ValidationError

from cienty_kit.settings import ServiceSettings


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIENTY_GRPC_PORT", "6000")
    monkeypatch.setenv("CIENTY_LOG_LEVEL", "DEBUG")
    settings = ServiceSettings()
    assert settings.grpc_port == 6000
    assert settings.log_level == "DEBUG"


def test_production_refuses_the_development_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIENTY_ENVIRONMENT", "production")
    monkeypatch.delenv("CIENTY_SERVICE_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="CIENTY_SERVICE_TOKEN"):
        ServiceSettings()
    monkeypatch.setenv("CIENTY_SERVICE_TOKEN", "short")
    with pytest.raises(ValidationError, match="16 characters"):
        ServiceSettings()
    monkeypatch.setenv("CIENTY_SERVICE_TOKEN", "a-long-enough-random-secret")
    assert ServiceSettings().service_token.get_secret_value() == "a-long-enough-random-secret"


def test_bad_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIENTY_GRPC_PORT", "70000")
    with pytest.raises(ValidationError, match="grpc_port"):
        ServiceSettings()
