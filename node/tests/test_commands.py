import io

import pytest
from django.core.management import CommandError, call_command

from node.demo import demo_nodes
from node.models import Node


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_nodes", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
class TestSeedNodes:
    def test_hostnames_as_arguments_are_registered_once(self) -> None:
        assert run("a.test", "b.test") == "2 nodes registered, 0 already known.\n"
        assert run("A.test", "c.test") == "1 nodes registered, 1 already known.\n"
        assert sorted(Node.objects.values_list("hostname", flat=True)) == ["a.test", "b.test", "c.test"]

    def test_count_generates_numbered_hostnames(self) -> None:
        run("--count", "12", "--prefix", "web-", "--domain", "dc1.test")
        names = sorted(Node.objects.values_list("hostname", flat=True))
        assert names[0] == "web-01.dc1.test"
        assert names[-1] == "web-12.dc1.test"
        assert len(names) == 12

    def test_demo_gives_a_mix_of_states_and_only_when_empty_with_if_empty(self) -> None:
        run("--demo", "--if-empty")
        assert Node.objects.count() == len(demo_nodes())
        assert Node.objects.filter(is_paused=True).exclude(pause_reason=None).exists()
        assert Node.objects.filter(is_active=False).exclude(deprecated=None).exists()
        assert run("--demo", "--if-empty") == "Nodes exist already; nothing seeded.\n"

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            ((), "Give hostnames, --count N or --demo."),
            (("--count", "-1"), "--count must be >= 0."),
            (("ok.test", "bad_name.test"), "not a valid hostname"),
        ],
    )
    def test_bad_input_is_a_command_error_and_inserts_nothing(self, args: tuple[str, ...], message: str) -> None:
        with pytest.raises(CommandError, match=message):
            run(*args)
        assert not Node.objects.exists()
