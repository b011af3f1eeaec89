import pytest

from cienty_kit.database import async_database_url


def test_rds_url_gets_the_asyncpg_driver() -> None:
    url = async_database_url("postgresql://app:s3cr%40t@db.example.com:5432/cienty?sslmode=require")
    assert url.drivername == "postgresql+asyncpg"
    assert url.host == "db.example.com"
    assert url.password == "s3cr@t"
    assert dict(url.query) == {"ssl": "require"}


def test_socket_directory_is_kept() -> None:
    url = async_database_url("postgresql://postgres:@/cienty?host=/tmp/pg")
    assert url.database == "cienty"
    assert dict(url.query) == {"host": "/tmp/pg"}


def test_other_schemes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"postgresql://"):
        async_database_url("mysql://root@localhost/cienty")
