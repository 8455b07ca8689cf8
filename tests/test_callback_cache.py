"""A worker keeps each account's callbacks while their stamp stays the same,
and never sends by callbacks that have changed since."""

from __future__ import annotations

from app import accounts, callbacks, db, events
from app.config import Settings
from app.models import Account, Callback, Delivery, loaded
from tests.conftest import make_callback
from tests.test_sender import ScriptedTransport, answer
from workers.callback_cache import CallbackCache
from workers.sender import Sender

SETTINGS = Settings(allow_private_targets=True)
TRIGGERS = frozenset({"complete", "error"})


class CountedLoads:
    """Callbacks of each account by id, counting the loads asked for."""

    def __init__(self, sizes: dict[int, int]) -> None:
        self.sizes = sizes
        self.loads: list[int] = []

    def __call__(self, account_id: int) -> list[Callback]:
        self.loads.append(account_id)
        return [loaded(Callback, id=account_id * 1000 + n, account=account_id,
                       model_name_pattern=".*", project_name_pattern=".*")
                for n in range(self.sizes[account_id])]


def test_the_same_stamp_is_served_from_memory_and_a_new_one_loads_again():
    load = CountedLoads({1: 2})
    cache = CallbackCache(100, load)

    first = cache.matching(1, stamp=7)
    again = cache.matching(1, stamp=7)
    changed = cache.matching(1, stamp=8)

    assert load.loads == [1, 1]
    assert again is first
    assert changed is not first
    assert [c.id for c in changed.match("m", "p")] == [1000, 1001]


def test_the_accounts_used_least_recently_leave_first_once_capacity_is_passed():
    load = CountedLoads({1: 3, 2: 3, 3: 3})
    cache = CallbackCache(7, load)

    cache.matching(1, 0)
    cache.matching(2, 0)
    cache.matching(1, 0)      # 1 is now the most recently used
    cache.matching(3, 0)      # 9 callbacks > 7: 2 leaves
    cache.matching(1, 0)
    cache.matching(2, 0)      # loaded again; 3 leaves (1 was used after it)

    assert load.loads == [1, 2, 3, 2]


def test_an_account_larger_than_the_capacity_is_loaded_every_time():
    load = CountedLoads({1: 5, 2: 1})
    cache = CallbackCache(4, load)

    cache.matching(2, 0)
    cache.matching(1, 0)
    cache.matching(1, 0)
    cache.matching(2, 0)

    assert load.loads == [2, 1, 1]


def test_a_capacity_of_zero_keeps_nothing():
    load = CountedLoads({1: 0, 2: 1})
    cache = CallbackCache(0, load)

    for _ in range(2):
        cache.matching(1, 0)
        cache.matching(2, 0)

    assert load.loads == [1, 2, 1, 2]


def test_forget_all_makes_every_account_load_again():
    load = CountedLoads({1: 1, 2: 1})
    cache = CallbackCache(10, load)
    cache.matching(1, 0)
    cache.matching(2, 0)

    cache.forget_all()
    cache.matching(1, 0)
    cache.matching(2, 0)

    assert load.loads == [1, 2, 1, 2]


# In the database: every change draws a new stamp, and a sender never uses
# callbacks past one.


def stamp_of(account) -> int:
    with db.connection():
        return Account.get_by_id(account.id).callbacks_stamp


def test_a_callback_written_without_app_callbacks_draws_a_new_stamp_too(database):
    # A web process of an earlier release, or a row written by hand.
    account = accounts.create_account("acme").account
    callback = make_callback(account)
    stamps = [stamp_of(account)]

    with db.connection():
        Callback.update(enabled=False).where(Callback.id == callback.id).execute()
        stamps.append(stamp_of(account))
        Callback.insert(account=account, url="http://127.0.0.1:9/x", secret="s"
                        ).execute()
        stamps.append(stamp_of(account))
        Callback.delete().where(Callback.id == callback.id).execute()
        stamps.append(stamp_of(account))

    assert len(set(stamps)) == 4


def test_every_change_to_a_callback_draws_its_account_a_new_stamp(database):
    account = accounts.create_account("acme").account
    other = accounts.create_account("globex").account
    stamps = [stamp_of(account)]

    callback = make_callback(account)
    stamps.append(stamp_of(account))
    callbacks.update(account, callback.id, {"url": "http://127.0.0.1:9/moved"},
                     SETTINGS)
    stamps.append(stamp_of(account))
    callbacks.disable(callback.id, "the receiver answered 410 Gone")
    stamps.append(stamp_of(account))
    other_stamp = stamp_of(other)
    callbacks.delete(account, callback.id)
    stamps.append(stamp_of(account))

    assert len(set(stamps)) == 5
    assert stamp_of(other) == other_stamp


class Recording(ScriptedTransport):
    """Answers 200 and notes the URL of every POST."""

    def __init__(self) -> None:
        super().__init__(answer(200))
        self.urls: list[str] = []

    def post(self, url, body, headers, *, timeout):
        self.urls.append(url)
        return super().post(url, body, headers, timeout=timeout)


class LoadsSeen:
    """Passes loads on to ``load``, noting the account of each."""

    def __init__(self, load) -> None:
        self.load = load
        self.accounts: list[int] = []

    def __call__(self, account_id: int) -> list[Callback]:
        self.accounts.append(account_id)
        return self.load(account_id)


def report(account, version: int) -> str:
    return events.record(account, {"project_name": "p", "name": "m",
                                   "version": version, "status": "complete"},
                         TRIGGERS).event_id


def test_a_sender_keeps_an_accounts_callbacks_between_batches(database):
    account = accounts.create_account("acme").account
    make_callback(account)
    transport = Recording()
    sender = Sender(SETTINGS, transport)
    loads = LoadsSeen(sender.callbacks._load)
    sender.callbacks._load = loads

    for version in (1, 2, 3):
        report(account, version)
        assert sender.fan_out_waiting(10).events == 1

    assert loads.accounts == [account.id]
    assert transport.urls == ["http://127.0.0.1:9/h"] * 3


def test_a_sender_sends_to_a_callbacks_new_url_after_an_edit(database):
    account = accounts.create_account("acme").account
    callback = make_callback(account)
    transport = Recording()
    sender = Sender(SETTINGS, transport)
    report(account, 1)
    sender.fan_out_waiting(10)

    callbacks.update(account, callback.id, {"url": "http://127.0.0.1:9/moved"},
                     SETTINGS)
    report(account, 2)
    sender.fan_out_waiting(10)
    callbacks.update(account, callback.id, {"enabled": False}, SETTINGS)
    report(account, 3)
    sender.fan_out_waiting(10)

    assert transport.urls == ["http://127.0.0.1:9/h", "http://127.0.0.1:9/moved"]


def test_a_callback_deleted_after_its_stamp_was_read_is_not_sent_to(database):
    account = accounts.create_account("acme").account
    kept = make_callback(account)
    deleted = make_callback(account, model_name="^m$")
    transport = Recording()
    sender = Sender(SETTINGS, transport)
    report(account, 1)
    sender.fan_out_waiting(10)

    # As if the delete committed between the batch's read of the stamp and
    # its insert of the deliveries: the row goes, the stamp read stays.
    stamp = stamp_of(account)
    with db.connection():
        Callback.delete().where(Callback.id == deleted.id).execute()
        Account.update(callbacks_stamp=stamp).where(Account.id == account.id).execute()
    event_id = report(account, 2)
    batch = sender.fan_out_waiting(10)

    assert batch.events == 1
    with db.connection():
        made = [d.callback_id for d in Delivery.select()
                .where(Delivery.event == event_id)]
    assert made == [kept.id]
    assert len(transport.urls) == 3
