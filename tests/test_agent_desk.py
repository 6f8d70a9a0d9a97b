"""The agent desk under pressure: races between agents, stale and foreign conversations,
repeated posts, agents who leave and bad input — each refused with a 4xx and a reason, never a
500; a colleague takes over from an agent who has left."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select

from bot.agent_desk import DeskError
from bot.config import save_section
from bot.store.models import ConsoleUser, Conversation, HandoffEvent, OutboxMessage
from tests.consoles import (
    AGENT,
    BEARER,
    OTHER_AGENT,
    desk_bot,
    only_conversation_id,
    sign_in,
    taken_by_another_agent,
)


async def _outbox_bodies(services, conversation_id: int) -> list[str]:
    return await services.store.read(lambda s: list(s.scalars(
        select(OutboxMessage.body).where(OutboxMessage.conversation_id == conversation_id)
        .order_by(OutboxMessage.id))))


async def test_two_agents_claiming_at_once_only_one_gets_it(make_bot, database_url, twilio,
                                                            clock):
    """Two claims running at the same time on different store threads (as two web processes
    would): exactly one agent owns the conversation, the other is refused with 409."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted, now = await only_conversation_id(services), clock.now()

    async def claim(agent: str, lane: int):
        try:
            await services.store.write(
                lambda s: services.desk.claim(s, wanted, agent, now).state, lane=lane)
            return agent
        except DeskError as refused:
            return refused.status

    lanes = (0, 1) if not services.store.is_sqlite else (0, 0)
    results = await asyncio.gather(claim(AGENT, lanes[0]), claim(OTHER_AGENT, lanes[1]))
    assert sorted(map(str, results)) in (["409", AGENT], ["409", OTHER_AGENT])
    owner = await services.store.read(lambda s: s.get(Conversation, wanted).data["agent"])
    assert owner in results
    claimed = await services.store.read(lambda s: s.scalars(
        select(HandoffEvent.agent).where(HandoffEvent.kind == "claimed")).all())
    assert claimed == [owner]


async def test_claiming_or_replying_to_a_resolved_conversation_is_refused(
        make_bot, database_url, twilio, clock):
    """Resolved, then a late claim, reply or resolve from a stale page: 409, nothing sent."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    base = f"/api/conversations/{wanted}"
    await bot.client.post(f"{base}/claim", headers=BEARER, json={"agent": AGENT})
    assert (await bot.client.post(f"{base}/resolve", headers=BEARER,
                                  json={"agent": AGENT})).status == 200
    before = await _outbox_bodies(services, wanted)
    for path, body in (("claim", {}), ("messages", {"text": "late"}), ("resolve", {})):
        late = await bot.client.post(f"{base}/{path}", headers=BEARER,
                                     json={"agent": OTHER_AGENT, **body})
        assert late.status == 409, path
        assert "bot" in (await late.json())["error"]
    assert await _outbox_bodies(services, wanted) == before


async def test_another_agents_conversation_cannot_be_answered_or_resolved(
        make_bot, database_url, twilio, clock):
    """With the API and the console: replying to or resolving another agent's conversation is
    409 naming them, and nothing is sent."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    wanted, csrf = await taken_by_another_agent(bot, services)
    before = await _outbox_bodies(services, wanted)
    for path in ("messages", "resolve"):
        refused = await bot.client.post(f"/api/conversations/{wanted}/{path}",
                                        headers={"X-CSRF-Token": csrf}, json={"text": "mine"})
        assert refused.status == 409
        assert (await refused.json())["agent"] == OTHER_AGENT
        form = await bot.client.post(f"/agent/conversations/{wanted}/{path}",
                                     data={"csrf_token": csrf, "text": "mine"})
        assert form.status == 409
    assert await _outbox_bodies(services, wanted) == before


async def test_a_deactivated_agents_session_can_no_longer_act(make_bot, database_url, twilio,
                                                              clock):
    """Once deactivated, the agent's open session is refused by the API and the forms."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    csrf = await sign_in(bot.client, AGENT)

    def deactivate(session):
        session.scalars(select(ConsoleUser).where(ConsoleUser.email == AGENT)).one().active = False

    await services.store.write(deactivate)
    api = await bot.client.post(f"/api/conversations/{wanted}/claim",
                                headers={"X-CSRF-Token": csrf})
    assert api.status == 401
    form = await bot.client.post(f"/agent/conversations/{wanted}/claim",
                                 data={"csrf_token": csrf}, allow_redirects=False)
    assert form.status in (302, 401, 403)
    state = await services.store.read(lambda s: s.get(Conversation, wanted).state)
    assert state == "waiting"


@pytest.mark.parametrize(("body", "status"), [
    ({"text": ""}, 422), ({"text": "x" * 1601}, 422), ({"text": ["hi"]}, 422),
    ({"text": "hi", "id": 7}, 422), ({"text": "hi", "id": "a b"}, 422),
    ({"template": 5}, 422), ({"template": ""}, 422), ({"template": "handoff.nope"}, 422),
    ({"text": "hi", "agent": ""}, 422), ({"text": "hi", "agent": "x" * 300}, 422),
])
async def test_bad_replies_are_refused_with_a_reason(make_bot, sqlite_url, twilio, clock, body,
                                                     status):
    bot, services = await desk_bot(make_bot, sqlite_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    response = await bot.client.post(f"/api/conversations/{wanted}/messages", headers=BEARER,
                                     json=body)
    assert response.status == status
    assert (await response.json())["error"]


@pytest.mark.parametrize("data", ["[1, 2]", "null", "\"text\"", "{", b"\xff\xfe"])
async def test_bodies_that_are_not_json_objects_are_400(make_bot, sqlite_url, twilio, clock, data):
    bot, services = await desk_bot(make_bot, sqlite_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    for path in ("claim", "messages", "notes", "resolve"):
        response = await bot.client.post(f"/api/conversations/{wanted}/{path}", headers=BEARER,
                                         data=data)
        assert response.status == 400, path


@pytest.mark.parametrize("path", ["messages", "notes"])
async def test_a_nul_character_is_refused_not_a_server_error(make_bot, database_url, twilio,
                                                             clock, path):
    """PostgreSQL cannot store NUL in text: a message or note carrying one is 422."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    response = await bot.client.post(f"/api/conversations/{wanted}/{path}", headers=BEARER,
                                     json={"text": "hi\x00there", "agent": AGENT})
    assert response.status == 422
    assert (await response.json())["error"]


async def test_a_nul_character_in_the_agent_name_is_refused(make_bot, database_url, twilio,
                                                            clock):
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    response = await bot.client.post(f"/api/conversations/{wanted}/claim", headers=BEARER,
                                     json={"agent": "ana\x00"})
    assert response.status == 422


async def _closed_whatsapp_window(bot, services, clock) -> int:
    """A WhatsApp handoff 30 hours after the customer wrote, with an approved follow-up."""
    await bot.message("whatsapp:+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    now = clock.now()
    await services.store.write(lambda s: save_section(s, "whatsapp_templates", {"templates": {
        "handoff.follow_up": {"en": {"content_sid": "HX" + "b" * 32, "label": "Follow up"}}}},
        now=now, updated_by="test"))
    await services.store.write(lambda s: save_section(
        s, "handoff", {"return_silent_after_minutes": 7 * 24 * 60,
                       "return_unclaimed_after_minutes": 7 * 24 * 60}, now=now,
        updated_by="test"))
    clock.advance(hours=30)
    return wanted


async def test_a_double_clicked_template_is_sent_once(make_bot, database_url, twilio, clock):
    """The console's "Send template" form posted twice (a double click) queues one message."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    wanted = await _closed_whatsapp_window(bot, services, clock)
    csrf = await sign_in(bot.client, AGENT)
    page = await (await bot.client.get(f"/agent/conversations/{wanted}")).text()
    form = re.search(r'<form method="post" action="/agent/conversations/\d+/messages" '
                     r'style="margin: 4px 0;">(.*?)</form>', page, re.S).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    assert fields["template"] == "handoff.follow_up" and fields["csrf_token"] == csrf
    for _ in range(2):
        await bot.client.post(f"/agent/conversations/{wanted}/messages", data=fields)
    sent = await services.store.read(lambda s: s.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "handoff.follow_up")).all())
    assert len(sent) == 1


async def test_a_message_id_reused_by_another_agent_or_handoff_is_refused_not_swallowed(
        make_bot, database_url, twilio, clock):
    """A message id seen before returns the queued message only as a retry (same agent, same
    handoff, even once resolved); another agent's id, or one from an earlier handoff, is 409
    instead of a 200 that silently never sends the new message."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    path = f"/api/conversations/{wanted}/messages"
    first = await bot.client.post(path, headers=BEARER,
                                  json={"text": "From Ana", "id": "1", "agent": AGENT})
    assert first.status == 201
    other = await bot.client.post(path, headers=BEARER,
                                  json={"text": "From Bo", "id": "1", "agent": OTHER_AGENT})
    assert other.status == 409 and "already used" in (await other.json())["error"]
    await bot.client.post(f"/api/conversations/{wanted}/resolve", headers=BEARER,
                          json={"agent": AGENT})
    retry = await bot.client.post(path, headers=BEARER,
                                  json={"text": "From Ana", "id": "1", "agent": AGENT})
    assert retry.status == 200 and (await retry.json())["message"]["body"] == "From Ana"
    clock.advance(minutes=5)
    await bot.message("+14155550100", "talk to a person")
    again = await bot.client.post(path, headers=BEARER,
                                  json={"text": "Back again", "id": "1", "agent": AGENT})
    assert again.status == 409 and "earlier handoff" in (await again.json())["error"]
    fresh = await bot.client.post(path, headers=BEARER,
                                  json={"text": "Back again", "id": "2", "agent": AGENT})
    assert fresh.status == 201
    assert (await _outbox_bodies(services, wanted)).count("From Ana") == 1


async def test_a_template_posted_twice_with_one_key_is_sent_once(make_bot, database_url, twilio,
                                                                 clock):
    """What the template form needs to carry: with a key, the second post is a retry."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    wanted = await _closed_whatsapp_window(bot, services, clock)
    csrf = await sign_in(bot.client, AGENT)
    panel = await (await bot.client.get(f"/agent/conversations/{wanted}/panel")).text()
    assert "handoff.follow_up" in panel
    fields = {"csrf_token": csrf, "template": "handoff.follow_up", "key": "k1"}
    for _ in range(2):
        sent = await bot.client.post(f"/agent/conversations/{wanted}/messages", data=fields)
        assert sent.status == 200 and "Message queued." in await sent.text()
    rows = await services.store.read(lambda s: s.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "handoff.follow_up")).all())
    assert len(rows) == 1


async def test_one_message_id_sent_twice_at_once_queues_one_message(make_bot, database_url,
                                                                    twilio, clock):
    """A double click reaching two processes at once: one message, both answered with it."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted, now = await only_conversation_id(services), clock.now()

    async def send(lane: int):
        row, created = await services.store.write(lambda s: services.desk.reply(
            s, wanted, AGENT, now, text="On it", client_key="k-1"), lane=lane)
        return row.id, created

    lanes = (0, 1) if not services.store.is_sqlite else (0, 0)
    results = await asyncio.gather(send(lanes[0]), send(lanes[1]))
    assert sorted(created for _, created in results) == [False, True]
    assert len({row_id for row_id, _ in results}) == 1
    assert (await _outbox_bodies(services, wanted)).count("On it") == 1


async def test_a_deactivated_agents_conversations_can_be_taken_over(make_bot, database_url,
                                                                    twilio, clock):
    """An agent who leaves while holding a conversation: a colleague can take it over rather
    than the customer waiting for the silent-agent timer (4 working hours by default)."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    base = f"/api/conversations/{wanted}"
    await bot.client.post(f"{base}/claim", headers=BEARER, json={"agent": AGENT})

    def deactivate(session):
        session.scalars(select(ConsoleUser).where(ConsoleUser.email == AGENT)).one().active = False

    # While the agent is active, nobody else may take it.
    refused = await bot.client.post(f"{base}/claim", headers=BEARER, json={"agent": OTHER_AGENT})
    assert refused.status == 409
    await services.store.write(deactivate)
    await sign_in(bot.client, OTHER_AGENT)
    page = await (await bot.client.get(f"/agent/conversations/{wanted}")).text()
    assert "(has left)" in page and ">Take over</button>" in page
    taken = await bot.client.post(f"{base}/claim", headers=BEARER, json={"agent": OTHER_AGENT})
    assert taken.status == 200 and (await taken.json())["agent"] == OTHER_AGENT
    sent = await bot.client.post(f"{base}/messages", headers=BEARER,
                                 json={"agent": OTHER_AGENT, "text": "Picking this up for Ana."})
    assert sent.status == 201
    assert "Picking this up for Ana." in await _outbox_bodies(services, wanted)
    claims = await services.store.read(lambda s: [(e.agent, e.text) for e in s.scalars(
        select(HandoffEvent).where(HandoffEvent.kind == "claimed").order_by(HandoffEvent.id))])
    assert claims == [(AGENT, None), (OTHER_AGENT, f"taken over from {AGENT}, who has left")]


async def test_a_handoff_the_timer_gave_back_cannot_be_claimed_or_answered(
        make_bot, database_url, twilio, clock):
    """Nobody took it and the return timer handed it back to the bot: a claim or reply from a
    page opened before is 409, and the customer gets no agent message."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    csrf = await sign_in(bot.client, AGENT)
    page = await (await bot.client.get(f"/agent/conversations/{wanted}")).text()
    key = re.search(r'name="key" value="([^"]+)"', page).group(1)
    clock.advance(hours=20)
    while await services.scheduler.run_due():
        pass
    csrf = await sign_in(bot.client, AGENT)  # the night was longer than a session
    handoffs = await (await bot.client.get("/api/handoffs")).json()
    assert handoffs["handoffs"] == []
    claim = await bot.client.post(f"/agent/conversations/{wanted}/claim",
                                  data={"csrf_token": csrf})
    reply = await bot.client.post(f"/agent/conversations/{wanted}/messages",
                                  data={"csrf_token": csrf, "text": "Hello?", "key": key})
    assert (claim.status, reply.status) == (409, 409)
    assert "Hello?" not in await _outbox_bodies(services, wanted)


@pytest.mark.parametrize(("path", "limit"), [("messages", 1600), ("notes", 4000)])
async def test_line_breaks_from_a_browser_count_once(make_bot, database_url, twilio, clock,
                                                     path, limit):
    """Browsers send a textarea's line breaks as CRLF but count them (maxlength) as one
    character: text at the limit is accepted, and stored with plain line breaks."""
    bot, services = await desk_bot(make_bot, database_url, twilio, clock)
    await bot.message("+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    csrf = await sign_in(bot.client, AGENT)
    lines = ["x" * 99] * (limit // 100)
    text = "\r\n".join(lines)
    assert len(text.replace("\r\n", "\n")) < limit < len(text)
    sent = await bot.client.post(f"/agent/conversations/{wanted}/{path}",
                                 data={"csrf_token": csrf, "text": text, "key": "k"})
    assert sent.status == 200
    if path == "messages":
        assert "\n".join(lines) in await _outbox_bodies(services, wanted)
    else:
        notes = await services.store.read(lambda s: s.scalars(
            select(HandoffEvent.text).where(HandoffEvent.kind == "note")).all())
        assert notes == ["\n".join(lines)]
