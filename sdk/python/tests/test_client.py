"""Every client call against a real ``modelhooks dev``."""

from __future__ import annotations

from datetime import datetime, timezone

from modelhooks_sdk import (
    AttemptPolicy,
    Callback,
    Client,
    DeliveryPage,
    Filter,
    StatusReport,
)

RECEIVER = "http://127.0.0.1:9/hooks"


def test_add_callback_fills_in_the_default_filter_and_attempt_policy(client):
    callback = client.add_callback(RECEIVER)

    assert isinstance(callback, Callback)
    assert callback.url == RECEIVER
    assert callback.filter == Filter(model_name=".*", project_name=".*")
    assert callback.attempt == AttemptPolicy(count=5, interval=10, http_timeout=10)
    assert callback.enabled is True
    assert callback.disabled_reason is None
    assert callback.created_at.tzinfo == timezone.utc


def test_add_callback_shows_a_whsec_secret_this_once(client):
    created = client.add_callback(RECEIVER)

    assert created.secret is not None and created.secret.startswith("whsec_")
    assert client.get_callback(created.id).secret is None


def test_add_callback_sends_the_given_filter_and_attempt_values(client):
    callback = client.add_callback(
        RECEIVER,
        model_name="home_.*",
        project_name="mindsdb",
        count=3,
        interval=0.5,
        http_timeout=2.5,
    )

    assert callback.filter == Filter(model_name="home_.*", project_name="mindsdb")
    assert callback.attempt == AttemptPolicy(count=3, interval=0.5, http_timeout=2.5)


def test_list_callbacks_gives_the_accounts_callbacks_in_id_order(client):
    first = client.add_callback(RECEIVER + "/1")
    second = client.add_callback(RECEIVER + "/2")

    listed = client.list_callbacks()

    assert [c.id for c in listed] == [first.id, second.id]
    assert [c.url for c in listed] == [RECEIVER + "/1", RECEIVER + "/2"]
    assert all(c.secret is None for c in listed)


def test_get_callback_gives_the_stored_callback(client):
    created = client.add_callback(RECEIVER, model_name="churn")

    fetched = client.get_callback(created.id)

    assert fetched.id == created.id
    assert fetched.filter.model_name == "churn"


def test_edit_callback_changes_only_the_given_fields_and_merges_nested_ones(client):
    created = client.add_callback(RECEIVER, model_name="churn", count=3, interval=1)

    edited = client.edit_callback(created.id, project_name="sales", interval=2)

    assert edited.url == RECEIVER
    assert edited.filter == Filter(model_name="churn", project_name="sales")
    assert edited.attempt == AttemptPolicy(count=3, interval=2, http_timeout=10)


def test_edit_callback_sets_the_url_and_enabled(client):
    created = client.add_callback(RECEIVER)

    edited = client.edit_callback(created.id, url=RECEIVER + "/v2", enabled=False)

    assert (edited.url, edited.enabled) == (RECEIVER + "/v2", False)
    assert client.edit_callback(created.id, enabled=True).enabled is True


def test_delete_callback_removes_it_from_the_list(client):
    kept = client.add_callback(RECEIVER + "/kept")
    removed = client.add_callback(RECEIVER + "/removed")

    assert client.delete_callback(removed.id) is None

    assert [c.id for c in client.list_callbacks()] == [kept.id]


def test_list_deliveries_of_a_new_callback_is_an_empty_page(client):
    callback = client.add_callback(RECEIVER)

    page = client.list_deliveries(callback.id, limit=5, offset=0)

    assert page == DeliveryPage(deliveries=[], total=0, limit=5, offset=0)


def test_report_status_of_a_new_version_gives_no_old_status(client):
    report = client.report_status("sdk_project", "fresh_model", 1, "generating")

    assert isinstance(report, StatusReport)
    assert report.old_status is None
    assert report.new_status == "generating"
    assert report.triggered is False
    assert report.event_id is not None


def test_report_status_knows_the_last_status_and_triggers_on_complete(client):
    client.report_status("sdk_project", "second_model", 1, "training")

    report = client.report_status(
        "sdk_project",
        "second_model",
        1,
        "complete",
        predictor_id=77,
        active=True,
        predictor_created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        changed_at="2026-01-02T03:10:00Z",
    )

    assert (report.old_status, report.new_status, report.triggered) == (
        "training",
        "complete",
        True,
    )


def test_report_status_of_an_unchanged_status_has_no_event(client):
    client.report_status("sdk_project", "same_model", 1, "complete")

    report = client.report_status("sdk_project", "same_model", 1, "complete")

    assert (report.event_id, report.triggered) == (None, False)


def test_a_client_reuses_one_connection_for_many_calls(dev_server):
    with Client(dev_server.base_url, dev_server.api_key) as sdk_client:
        sdk_client.list_callbacks()
        pool = sdk_client._session.get_adapter(dev_server.base_url).poolmanager
        connections_before = _opened(pool)

        for _ in range(5):
            sdk_client.list_callbacks()

        assert _opened(pool) == connections_before == 1


def _opened(pool_manager) -> int:
    return sum(pool.num_connections for pool in pool_manager.pools._container.values())
