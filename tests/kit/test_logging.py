import json
import logging
from collections.abc import Iterator

import pytest

from cienty_kit.context import RequestContext, enter_request, leave_request
from cienty_kit.logging import configure_logging, get_logger


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_json_lines_carry_the_request_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    log = get_logger("test")
    token = enter_request(RequestContext(rpc="/x.Y/Z", request_id="req-7", actor="staff:ana"))
    try:
        log.info("inside", sku="MED-1")
    finally:
        leave_request(token)
    log.info("outside")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    inside, outside = lines[-2], lines[-1]
    assert inside["event"] == "inside"
    assert (inside["rpc"], inside["request_id"], inside["actor"]) == (
        "/x.Y/Z",
        "req-7",
        "staff:ana",
    )
    assert inside["level"] == "info"
    assert "timestamp" in inside
    assert "request_id" not in outside


@pytest.mark.usefixtures("restore_root_logger")
def test_personal_data_never_reaches_a_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    log = get_logger("test")
    log.info(
        "customer wrote from +5511987654321",
        phone="5511987654321",
        email="compras@drogaria.com.br",
        text="meu CNPJ é 11.222.333/0001-81, liga no (11) 98765-4321",
        order_id="aaaaaaaa-0000-4000-8000-000000000001",
        total_cents=12345678901,
    )
    try:
        raise ValueError("no customer with phone +5521912345678")
    except ValueError:
        log.exception("lookup_failed")
    logging.getLogger("library").warning("sending to 5531999990000")
    output = capsys.readouterr().out
    for secret in ("987654321", "98765-4321", "compras@", "11.222.333", "912345678", "999990000"):
        assert secret not in output
    first = json.loads(output.splitlines()[-3])
    assert first["event"] == "customer wrote from <phone …4321>"
    assert first["phone"] == "<phone …4321>"
    assert first["email"] == "<email>"
    assert first["text"] == "meu CNPJ é <cnpj>, liga no <phone …4321>"
    assert first["order_id"] == "aaaaaaaa-0000-4000-8000-000000000001"
    assert first["total_cents"] == 12345678901
