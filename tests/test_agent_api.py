"""The agents' JSON API and the support report: who may call what, the queue, claim, messages,
notes, resolve, refusals with reasons, and the measures in the report and in /metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.config import save_section
from bot.store.models import ConsoleUser, Conversation, Handoff
from tests.consoles import (
    AGENT,
    BEARER,
    OPERATOR,
    OTHER_AGENT,
    WORKING,
    desk_bot,
    sign_in,
)

ROUTES = [("GET", "/api/handoffs"), ("GET", "/api/conversations/1"),
          ("POST", "/api/conversations/1/claim"), ("POST", "/api/conversations/1/messages"),
          ("POST", "/api/conversations/1/notes"), ("POST", "/api/conversations/1/resolve"),
          ("GET", "/api/reports/support")]


async def _conversation_id(services, address: str) -> int:
    channel = "whatsapp" if address.startswith("whatsapp:") else "sms"
    number = address.removeprefix("whatsapp:")

    def find(session):
        from bot.store.models import Contact
        contact = session.scalars(select(Contact).where(Contact.channel == channel,
                                                        Contact.address == number)).one()
        return session.scalars(select(Conversation).where(
            Conversation.contact_id == contact.id)).one().id

    return await services.store.read(find)


async def test_every_route_refuses_anonymous_and_wrong_tokens(make_bot, database_url, twilio,
                                                              clock):
    """No token, a wrong token or a forged cookie: 401 on every agent and report route."""
    bot, _ = await desk_bot(make_bot, database_url, twilio, clock)
    client = bot.client
    for method, path in ROUTES:
        assert (await client.request(method, path)).status == 401, path
        wrong = await client.request(method, path, headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401, path
        forged = await client.request(method, path, cookies={"bot_session": "x.y"})
        assert forged.status == 401, path


async def test_an_agent_session_works_with_its_csrf_header(make_bot, database_url, twilio, clock):
    """A signed-in agent reads freely; a state-changing call without the session's CSRF
    header is refused (403) and does nothing; with it, it works."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    conversation_id = await _conversation_id(services, "+14155550100")
    csrf = await sign_in(bot.client, AGENT)
    assert (await bot.client.get("/api/handoffs")).status == 200
    path = f"/api/conversations/{conversation_id}/claim"
    assert (await bot.client.post(path)).status == 403
    assert (await bot.client.post(path, headers={"X-CSRF-Token": "guess"})).status == 403
    claimed = await bot.client.post(path, headers={"X-CSRF-Token": csrf})
    assert (claimed.status, (await claimed.json())["agent"]) == (200, AGENT)


async def test_the_support_report_is_for_operators(make_bot, database_url, twilio, clock):
    """Agents are refused the per-agent report (403); operators and the token get it; an
    operator may also work the agent API."""
    bot, _ = await desk_bot(make_bot, database_url, twilio, clock)
    await sign_in(bot.client, AGENT)
    assert (await bot.client.get("/api/reports/support")).status == 403
    await sign_in(bot.client, OPERATOR)
    assert (await bot.client.get("/api/reports/support")).status == 200
    assert (await bot.client.get("/api/handoffs")).status == 200
    bot.client.session.cookie_jar.clear()
    assert (await bot.client.get("/api/reports/support", headers=BEARER)).status == 200


async def test_the_queue_is_oldest_first_with_waiting_time_and_channel(make_bot, database_url,
                                                                       twilio, clock):
    """The queue lists conversations with the team, oldest request first, with how long each
    has waited, its channel, its state and agent, and the customer's last words."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("whatsapp:+14155550100", "talk to a person")
    clock.advance(minutes=5)
    await bot.message("+14155550199", "AGENT")
    await bot.message("+14155550199", "my card keeps failing")
    await bot.message("+14155550111", "when will I be charged")
    clock.advance(minutes=2)
    first = await _conversation_id(services, "whatsapp:+14155550100")
    await bot.client.post(f"/api/conversations/{first}/claim", headers=BEARER,
                          json={"agent": OTHER_AGENT})
    body = await (await bot.client.get("/api/handoffs", headers=BEARER)).json()
    summary = [(h["channel"], h["state"], h["agent"], h["waiting_seconds"], h["last_message"])
               for h in body["handoffs"]]
    assert summary == [("whatsapp", "with_agent", OTHER_AGENT, 420, "talk to a person"),
                       ("sms", "waiting", None, 120, "my card keeps failing")]


async def test_claims_conflict_and_bad_requests_are_refused_with_reasons(make_bot, database_url,
                                                                         twilio, clock):
    """Claiming someone else's conversation is 409 naming them; unknown ids 404; a
    conversation the bot has 409; non-JSON 400; a bad agent name 422."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    await bot.message("+14155550111", "hi")
    taken = await _conversation_id(services, "+14155550100")
    with_bot = await _conversation_id(services, "+14155550111")
    await bot.client.post(f"/api/conversations/{taken}/claim", headers=BEARER,
                          json={"agent": AGENT})
    conflict = await bot.client.post(f"/api/conversations/{taken}/claim", headers=BEARER,
                                     json={"agent": OTHER_AGENT})
    assert conflict.status == 409
    assert await conflict.json() == {"error": f"{AGENT} is handling this conversation",
                                     "agent": AGENT}
    missing = await bot.client.post("/api/conversations/999/claim", headers=BEARER)
    assert missing.status == 404 and "999" in (await missing.json())["error"]
    huge = await bot.client.post("/api/conversations/99999999999999/claim", headers=BEARER)
    assert huge.status == 404
    bot_has_it = await bot.client.post(f"/api/conversations/{with_bot}/resolve", headers=BEARER)
    assert bot_has_it.status == 409 and "bot" in (await bot_has_it.json())["error"]
    not_json = await bot.client.post(f"/api/conversations/{taken}/messages", headers=BEARER,
                                     data="text=hi")
    assert not_json.status == 400
    bad_agent = await bot.client.post(f"/api/conversations/{taken}/messages", headers=BEARER,
                                      json={"agent": 7, "text": "hi"})
    assert bad_agent.status == 422


async def test_messages_are_gated_and_a_retry_returns_the_same_one(make_bot, database_url, twilio,
                                                                   clock):
    """A message is queued with the gate's status (201); the same id again returns it (200)
    without a second row; empty text is 422; outside WhatsApp's window free text is 409 with
    the approved templates, and a template goes."""
    double, _ = twilio
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("whatsapp:+14155550100", "talk to a person")
    conversation_id = await _conversation_id(services, "whatsapp:+14155550100")
    path = f"/api/conversations/{conversation_id}/messages"
    sent = await bot.client.post(path, headers=BEARER,
                                 json={"text": "Hi, I'm Ana.", "id": "m-1", "agent": AGENT})
    assert sent.status == 201
    message = (await sent.json())["message"]
    assert (message["status"], message["kind"], message["body"]) == ("queued", "reply",
                                                                     "Hi, I'm Ana.")
    again = await bot.client.post(path, headers=BEARER,
                                  json={"text": "Hi, I'm Ana.", "id": "m-1", "agent": AGENT})
    assert again.status == 200 and (await again.json())["message"]["id"] == message["id"]
    assert (await bot.client.post(path, headers=BEARER, json={"text": " "})).status == 422
    await services.sender.drain()
    assert [m.body for m in double.messages].count("Hi, I'm Ana.") == 1

    now = clock.now()
    await services.store.write(lambda s: save_section(s, "whatsapp_templates", {"templates": {
        "handoff.follow_up": {"en": {"content_sid": "HX" + "b" * 32, "label": "Follow up"}}}},
        now=now, updated_by="test"))
    await services.store.write(lambda s: save_section(
        s, "handoff", {"return_silent_after_minutes": 7 * 24 * 60}, now=now, updated_by="test"))
    clock.advance(hours=30)
    closed = await bot.client.post(path, headers=BEARER, json={"text": "Any news?", "agent": AGENT})
    assert closed.status == 409
    refusal = await closed.json()
    assert "24-hour window" in refusal["error"]
    assert refusal["templates"] == ["handoff.follow_up"]
    template = await bot.client.post(path, headers=BEARER,
                                     json={"template": "handoff.follow_up", "agent": AGENT})
    assert template.status == 201
    assert (await template.json())["message"]["template"] == "handoff.follow_up"


async def test_notes_resolve_and_the_conversation_json(make_bot, database_url, twilio, clock):
    """Notes are kept for the team, resolve hands back, and the conversation's JSON shows the
    timeline, consent and the handoff's record."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    conversation_id = await _conversation_id(services, "+14155550100")
    base = f"/api/conversations/{conversation_id}"
    clock.advance(minutes=1)
    note = await bot.client.post(f"{base}/notes", headers=BEARER,
                                 json={"text": "VIP customer", "agent": AGENT})
    assert note.status == 201 and (await note.json())["note"]["agent"] == AGENT
    assert (await bot.client.post(f"{base}/notes", headers=BEARER, json={})).status == 422
    clock.advance(minutes=1)
    await bot.client.post(f"{base}/messages", headers=BEARER, json={"text": "Done!", "agent": AGENT})
    clock.advance(minutes=4)
    resolved = await bot.client.post(f"{base}/resolve", headers=BEARER, json={"agent": AGENT})
    assert resolved.status == 200
    assert (await resolved.json())["outcome"] == "resolved"
    view = await (await bot.client.get(base, headers=BEARER)).json()
    assert view["conversation"]["in_handoff"] is False
    assert view["handoff"]["agent"] == AGENT and view["handoff"]["outcome"] == "resolved"
    timeline = [(e["direction"], e["kind"], e["text"][:12]) for e in view["timeline"]]
    assert timeline == [("in", "handled", "talk to a pe"), ("out", "reply", "I've passed "),
                        ("team", "note", "VIP customer"), ("out", "reply", "Done!"),
                        ("team", "resolved", ""), ("out", "proactive", "Thanks for t")]
    assert view["contact"]["opted_out"] is False and view["consent"] == []
    assert (await bot.client.get("/api/conversations/999", headers=BEARER)).status == 404


async def _handoff(services, bot, address, *, agent, waited, answered_after, resolved_after,
                   rating=None):
    """One handoff with known times: requested now, answered and resolved after delays."""
    clock = services.clock
    await bot.message(address, "talk to a person")
    conversation_id = await _conversation_id(services, address)
    start = clock.now()
    clock.set(start + timedelta(seconds=waited))
    await bot.client.post(f"/api/conversations/{conversation_id}/claim", headers=BEARER,
                          json={"agent": agent})
    clock.set(start + timedelta(seconds=answered_after))
    await bot.client.post(f"/api/conversations/{conversation_id}/messages", headers=BEARER,
                          json={"text": "Sorted.", "agent": agent})
    clock.set(start + timedelta(seconds=resolved_after))
    await bot.client.post(f"/api/conversations/{conversation_id}/resolve", headers=BEARER,
                          json={"agent": agent})
    if rating is not None:
        await bot.message(address, str(rating))
        while await services.scheduler.run_due():
            pass


async def test_the_report_and_metrics_give_response_resolution_and_csat(make_bot, database_url,
                                                                        twilio, clock):
    """First response and resolution times and CSAT come out per agent and overall, in the
    API and in /metrics; a handoff nobody took counts only overall."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await _handoff(services, bot, "+14155550101", agent=AGENT, waited=30, answered_after=60,
                   resolved_after=600, rating=5)
    await _handoff(services, bot, "+14155550102", agent=AGENT, waited=60, answered_after=180,
                   resolved_after=1200, rating=2)
    await _handoff(services, bot, "+14155550103", agent=OTHER_AGENT, waited=10, answered_after=120,
                   resolved_after=300)
    await bot.message("+14155550104", "talk to a person")
    clock.advance(hours=20)  # the next morning: two working hours have passed
    while await services.scheduler.run_due():
        pass  # nobody took this one, nor the detractor's: both return to the bot
    await bot.message("+14155550105", "talk to a person")  # still waiting

    report = await (await bot.client.get("/api/reports/support", headers=BEARER)).json()
    overall, agents = report["overall"], {a["agent"]: a for a in report["agents"]}
    assert (overall["handoffs"], overall["resolved"], overall["returned"]) == (5, 3, 2)
    assert overall["first_response_seconds"] == {"count": 3, "average": 120.0, "median": 120.0}
    assert overall["resolution_seconds"]["average"] == 700.0
    assert overall["csat"] == {"responses": 2, "average": 3.5, "satisfied_share": 0.5}
    assert agents[AGENT]["first_response_seconds"]["average"] == 120.0
    assert agents[AGENT]["resolution_seconds"] == {"count": 2, "average": 900.0, "median": 900.0}
    assert agents[AGENT]["csat"]["average"] == 3.5
    assert agents[OTHER_AGENT]["csat"] == {"responses": 0, "average": None,
                                           "satisfied_share": None}
    assert report["open"] == {"waiting": 1, "with_agent": 0}

    metrics = await (await bot.client.get("/metrics")).text()
    ids = await services.store.read(lambda s: dict(s.execute(
        select(ConsoleUser.email, ConsoleUser.id)).all()))
    agent, other = f"user:{ids[AGENT]}", f"user:{ids[OTHER_AGENT]}"
    assert AGENT not in metrics and OTHER_AGENT not in metrics  # no personal data for scrapers
    assert f'bot_support_first_response_seconds{{agent="{agent}"}} 120.0' in metrics
    assert 'bot_support_first_response_seconds{agent="*"} 120.0' in metrics
    assert f'bot_support_resolution_seconds{{agent="{other}"}} 300.0' in metrics
    assert 'bot_support_csat{agent="*"} 3.5' in metrics
    assert f'bot_support_csat_responses{{agent="{other}"}} 0.0' in metrics
    assert 'bot_support_handoffs{agent="*",outcome="returned"} 2.0' in metrics
    assert 'bot_support_handoffs_open{state="waiting"} 1.0' in metrics

    earlier = await bot.client.get("/api/reports/support", headers=BEARER,
                                   params={"until": "2026-11-01"})
    assert (await earlier.json())["overall"]["handoffs"] == 0


@pytest.mark.parametrize(("query", "reason"), [
    ({"since": "yesterday"}, "ISO"),
    ({"since": "2026-11-10", "until": "2026-11-01"}, "before"),
    ({"since": "2024-01-01", "until": "2026-01-01"}, "at most"),
])
async def test_the_report_refuses_bad_periods(make_bot, sqlite_url, twilio, clock, query, reason):
    """An unreadable date, a period that ends before it starts or one too long is 422."""
    bot, _ = await desk_bot(make_bot, sqlite_url, twilio, clock)
    response = await bot.client.get("/api/reports/support", headers=BEARER, params=query)
    assert response.status == 422 and reason in (await response.json())["error"]


async def test_handoff_records_are_created_by_the_first_action(make_bot, database_url, twilio,
                                                               clock):
    """Waiting handoffs have no record until someone acts; the record keeps request time and
    reason from the conversation."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "THIS IS A SCAM")
    assert await services.store.read(lambda s: s.scalars(select(Handoff)).all()) == []
    conversation_id = await _conversation_id(services, "+14155550100")
    await bot.client.post(f"/api/conversations/{conversation_id}/claim", headers=BEARER)
    record = await services.store.read(lambda s: s.scalars(select(Handoff)).one())
    assert (record.reason, record.requested_at, record.agent) == ("frustrated", WORKING, "api")
