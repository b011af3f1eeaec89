import itertools

import pytest

from cienty_commerce.domain.orders import (
    TRANSITIONS,
    OrderStatus,
    RequestedLine,
    check_transition,
    merge_lines,
)
from cienty_kit.errors import FailedPrecondition, InvalidArgument


def test_happy_path_is_allowed() -> None:
    path = [
        OrderStatus.PENDING,
        OrderStatus.CONFIRMED,
        OrderStatus.INVOICED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
    ]
    for current, target in itertools.pairwise(path):
        check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (OrderStatus.PENDING, OrderStatus.SHIPPED),
        (OrderStatus.SHIPPED, OrderStatus.CANCELLED),
        (OrderStatus.DELIVERED, OrderStatus.CANCELLED),
        (OrderStatus.CANCELLED, OrderStatus.CONFIRMED),
        (OrderStatus.CONFIRMED, OrderStatus.PENDING),
    ],
)
def test_illegal_transitions_are_refused(current: OrderStatus, target: OrderStatus) -> None:
    with pytest.raises(FailedPrecondition, match=f"cannot become {target.name}"):
        check_transition(current, target)


def test_final_statuses_have_no_exit() -> None:
    assert TRANSITIONS[OrderStatus.DELIVERED] == frozenset()
    assert TRANSITIONS[OrderStatus.CANCELLED] == frozenset()


def test_lines_are_merged_and_sorted() -> None:
    merged = merge_lines([RequestedLine("B", 1), RequestedLine("A", 2), RequestedLine("B", 3)])
    assert merged == [RequestedLine("A", 2), RequestedLine("B", 4)]


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "lines"),
        ([RequestedLine("A", 0)], "lines[0].quantity"),
        ([RequestedLine("A", 1), RequestedLine("B", -2)], "lines[1].quantity"),
    ],
)
def test_bad_lines_name_the_field(lines: list[RequestedLine], field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        merge_lines(lines)
    assert error.value.field == field
