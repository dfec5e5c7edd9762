"""The team commands: accounts with roles, password reset, TOTP, the audit log, approvals."""

from __future__ import annotations

import json

import pyotp
from team_support import AR, EN, PASSWORD, SLUG, seed_catalog, write_campaign

from gll_mail.cli import main
from gll_mail.team.accounts import authenticate, get_admin
from gll_mail.team.totp import verify


def _create(runner, name, *role):
    out = runner.invoke(main, ["admin", "create", name, *role, "--password", PASSWORD])
    assert out.exit_code == 0, out.output
    return out.output


def test_admin_commands_manage_roles_passwords_and_totp(runner, session):
    assert "Admin lead created (admin)." in _create(runner, "lead")
    assert "Admin writer created (editor)." in _create(runner, "writer")
    assert "(approver)" in _create(runner, "checker", "--role", "approver")
    out = runner.invoke(main, ["admin", "create", "x", "--role", "boss", "--password", PASSWORD])
    assert out.exit_code == 2 and "'boss' is not one of" in out.output
    out = runner.invoke(main, ["admin", "role", "writer", "approver"])
    assert out.exit_code == 0 and "writer is now approver: an editor who also approves" in out.output
    out = runner.invoke(main, ["admin", "role", "lead", "viewer"])
    assert (
        out.exit_code == 1 and out.output.strip() == "Error: lead is the last admin; make another account admin first"
    )
    out = runner.invoke(main, ["admin", "reset-password", "writer"])
    assert out.exit_code == 0, out.output
    one_time = out.output.split("One-time password of writer: ")[1].split()[0]
    session.expire_all()
    assert authenticate(session, "writer", one_time).must_change_password
    out = runner.invoke(main, ["admin", "totp", "checker"])
    assert out.exit_code == 0 and "otpauth://totp/GLL%20mail:checker?secret=" in out.output
    session.expire_all()
    checker = get_admin(session, "checker")
    assert verify(session, checker, pyotp.TOTP(checker.totp_secret).now())
    listing = runner.invoke(main, ["admin", "list"]).output.splitlines()
    assert [line.split("\t")[0] + " " + line.split("\t")[2] for line in listing] == [
        "checker approver, TOTP",
        "lead admin",
        "writer approver",
    ]
    out = runner.invoke(main, ["audit", "--object", "admin:writer"])
    assert out.exit_code == 0
    assert [line.split("  ")[1:3] for line in out.output.splitlines()] == [
        ["(command line)", "team.create"],
        ["(command line)", "team.role"],
        ["(command line)", "team.reset-password"],
    ]
    data = json.loads(runner.invoke(main, ["audit", "--since", "1d", "--format", "json"]).output)
    assert {d["action"] for d in data} == {"team.create", "team.role", "team.reset-password", "team.totp-enrol"}
    assert runner.invoke(main, ["audit", "--since", "2099-01-01"]).output == "No audit entries match.\n"
    out = runner.invoke(main, ["audit", "--since", "soon"])
    assert out.exit_code == 1 and "--since must be a date" in out.output


def test_approval_commands_from_request_to_approved(runner, session, settings, tmp_path, monkeypatch):
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    monkeypatch.setenv("GLL_MAIL_CAMPAIGNS_DIR", str(campaigns))
    monkeypatch.setenv("GLL_MAIL_APPROVALS_REQUIRED", "1")
    local = settings.replace(campaigns_dir=campaigns)
    seed_catalog(session, local)
    session.commit()
    write_campaign(local, EN, AR)
    _create(runner, "lead")
    _create(runner, "eve", "--role", "editor")
    _create(runner, "abe", "--role", "approver")
    _create(runner, "amy", "--role", "approver")
    out = runner.invoke(main, ["campaign", "approvals", SLUG])
    assert out.exit_code == 0 and out.output.startswith(f"{SLUG}: needs 1 more approval(s) (0 of 1)\n")
    assert "found on disk" in out.output
    out = runner.invoke(main, ["campaign", "request-approval", SLUG, "--as", "eve", "--note", "ready"])
    assert out.exit_code == 0 and "Approval of dec-news requested (hash " in out.output
    out = runner.invoke(main, ["campaign", "approve", SLUG, "--as", "eve"])
    assert out.exit_code == 1 and "editor; campaign.approve needs the role approver" in out.output
    out = runner.invoke(main, ["campaign", "reject", SLUG, "--as", "abe", "--note", "the Arabic link text"])
    assert out.exit_code == 0 and "rejected by abe: the Arabic link text" in out.output
    (campaigns / f"{SLUG}.ar.md").write_text(AR.replace("الجديد", "السنوي"), encoding="utf-8")  # fixed by hand
    out = runner.invoke(main, ["campaign", "approvals", SLUG])
    assert "void: rejected by abe" in out.output and "changed since the last approval" not in out.output
    out = runner.invoke(main, ["campaign", "request-approval", SLUG, "--as", "abe"])
    assert out.exit_code == 0
    out = runner.invoke(main, ["campaign", "approve", SLUG, "--as", "abe"])
    assert out.exit_code == 1 and "you wrote this revision of dec-news" in out.output
    assert "another approver must sign off" in out.output and len(out.output.strip().splitlines()) == 1
    out = runner.invoke(main, ["campaign", "approve", SLUG, "--as", "amy", "--note", "good"])
    assert out.exit_code == 0 and "approved by amy: approved (1 of 1 required)." in out.output
    state = json.loads(runner.invoke(main, ["campaign", "approvals", SLUG, "--format", "json"]).output)
    assert state["approved"] and [a["by"] for a in state["approvals"]] == ["amy"] and state["authors"] == ["abe", "eve"]
    out = runner.invoke(main, ["campaign", "revisions", SLUG])
    assert [line.split("\t")[3] for line in out.output.splitlines()] == ["(on disk)", "(on disk)"]
    out = runner.invoke(main, ["campaign", "revisions", SLUG, "--diff", "1", "2"])
    assert f"--- {SLUG}.ar.md (revision 1)" in out.output and "+عزيزي العضو، اقرأ [التقرير السنوي]" in out.output
    log = runner.invoke(main, ["audit", "--object", f"campaign:{SLUG}"]).output
    assert [line.split("  ")[2] for line in log.splitlines()] == [
        "campaign.request-approval",
        "campaign.reject",
        "campaign.approval-voided",
        "campaign.approval-voided",
        "campaign.request-approval",
        "campaign.approve",
    ]
