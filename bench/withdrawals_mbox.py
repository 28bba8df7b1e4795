#!/usr/bin/env python3
"""Writes an mbox of realistic office mail for the intake benchmark (bench/withdrawals.sh).

    bench/withdrawals_mbox.py --people people.csv --count 10000 --out bench.mbox

people.csv has the lines `tenant,email,first_name,last_name` of people who booked (taken from
the benchmark database), so that withdrawals and requests come from known senders. The mix is
what a Bürgerbüro mailbox holds: mostly questions, out-of-office replies, newsletters and mail
to other addresses; a few percent withdrawals and requests; some unknown senders, spoofed mail,
garbage and duplicates. Bodies come in the encodings mail programs use (8bit, quoted-printable,
base64, Latin-1, HTML only, multipart/alternative), some with a PDF attachment of 100-400 KB.
The intended outcome of every message is counted and printed on stderr, to compare with what
the import reports. Deterministic for a given --seed and people file.
"""

import argparse
import base64
import csv
import quopri
import random
import sys
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

TENANTS = {
    "recklinghausen": {
        "withdrawal": ["buergerbuero@recklinghausen.de", "stadtverwaltung@recklinghausen.de"],
        "other": ["datenschutz@recklinghausen.de", "standesamt@recklinghausen.de", "info@recklinghausen.de"],
    },
    "oer-erkenschwick": {
        "withdrawal": ["rathaus@oer-erkenschwick.de"],
        "other": ["ordnungsamt@oer-erkenschwick.de", "info@oer-erkenschwick.de"],
    },
    "westendorf": {
        "withdrawal": ["geschaeftsleitung@vg-westendorf.de"],
        "other": ["bauamt@vg-westendorf.de", "kasse@vg-westendorf.de"],
    },
}

# (outcome, share of the messages)
MIX = [
    ("not_a_request", 0.50),
    ("not_addressed", 0.27),
    ("withdrawn", 0.07),
    ("sms_withdrawn", 0.03),
    ("access_request", 0.04),
    ("erasure_request", 0.02),
    ("review", 0.025),
    ("unmatched", 0.02),
    ("unreadable", 0.005),
    ("duplicate", 0.02),
]

QUESTIONS = [
    ("Frage zu meinem Termin", "ich habe einen Termin für den Personalausweis gebucht. Muss ich ein biometrisches Foto mitbringen?"),
    ("Termin verschieben", "leider kann ich am Donnerstag nicht kommen. Gibt es noch einen freien Termin in der nächsten Woche?"),
    ("Unterlagen Reisepass", "welche Unterlagen brauche ich für den Reisepass meiner Tochter (8 Jahre)?"),
    ("Öffnungszeiten", "hat das Bürgerbüro am Samstag vor Weihnachten geöffnet?"),
    ("Wohnsitz anmelden", "ich ziehe zum 1. des Monats um. Kann ich mich schon vorher anmelden?"),
    ("Question about my appointment", "I booked an appointment for registering my address. Do I need to bring my rental contract?"),
    ("Führungszeugnis", "kann ich das Führungszeugnis auch online beantragen oder muss ich persönlich kommen?"),
    ("Parken am Rathaus", "gibt es Parkplätze am Rathaus oder sollte ich besser mit dem Bus kommen?"),
]
AUTO_REPLIES = [
    ("Automatische Antwort: Ihre Terminbestätigung", "ich bin bis einschließlich 30.11. nicht im Büro. Ihre Nachricht wird nicht weitergeleitet."),
    ("Out of Office: Your booking", "I am out of the office until Monday with limited access to e-mail."),
]
NEWSLETTERS = [
    ("Kommunal-Newsletter 47/2026", "Diese Woche: Digitale Rathäuser, neue Förderprogramme und ein Webinar zu barrierefreien Formularen."),
    ("Your weekly digest", "This week: how three towns moved their citizen services online."),
]
WITHDRAWALS = [
    ("Widerruf meiner Einwilligung", "hiermit widerrufe ich meine Einwilligung in die Verarbeitung meiner Daten für die Online-Terminvergabe."),
    ("Widerruf", "ich ziehe meine Einwilligung zur Speicherung meiner Daten mit sofortiger Wirkung zurück."),
    ("Einwilligung zurueckziehen", "bitte nehmen Sie zur Kenntnis, dass ich meine Zustimmung zur Datenverarbeitung zurueckziehe."),
    ("Withdrawal of consent", "I hereby withdraw my consent to the processing of my personal data."),
]
SMS = [
    ("SMS-Erinnerung abbestellen", "bitte schicken Sie mir keine SMS-Erinnerungen mehr."),
    ("Widerruf SMS", "ich widerrufe meine Einwilligung zur SMS-Erinnerung."),
    ("Text reminders", "please stop the text message reminders."),
]
ACCESS = [
    ("Auskunft nach Art. 15 DSGVO", "bitte teilen Sie mir mit, welche personenbezogenen Daten Sie über mich gespeichert haben."),
    ("Datenauskunft", "ich bitte um eine Selbstauskunft über meine bei Ihnen gespeicherten Daten."),
    ("Subject access request", "under Article 15 GDPR I would like a copy of all personal data you hold about me."),
]
ERASURE = [
    ("Löschung meiner Daten", "ich bitte um Löschung meiner personenbezogenen Daten gemäß Art. 17 DSGVO."),
    ("Right to erasure", "please delete my personal data from your booking system."),
]
MIXED = [
    ("Widerruf und Löschung", "ich widerrufe meine Einwilligung und bitte Sie, alle meine Daten zu löschen."),
    ("Frage zur Einwilligung", "wie kann ich meine Einwilligung widerrufen, ohne den Termin zu verlieren?"),
]
UNKNOWN_FIRST = ["Rainer", "Petra", "Olga", "Mehmet", "Chris", "Anja", "Luca", "Sven"]
UNKNOWN_LAST = ["Unbekannt", "Nowak", "Kaya", "Berg", "Lindner", "Rossi", "Holm"]


def qp(text, charset):
    return quopri.encodestring(text.encode(charset)).decode("ascii")


def b64(data):
    s = base64.b64encode(data).decode("ascii")
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def qword(text):
    if text.isascii():
        return text
    return "=?utf-8?B?%s?=" % base64.b64encode(text.encode("utf-8")).decode("ascii")


class Generator:
    def __init__(self, people, seed):
        self.rng = random.Random(seed)
        self.people = people
        self.unused = list(people)
        self.rng.shuffle(self.unused)
        self.sent = []
        self.when = datetime(2026, 11, 2, 7, 0, tzinfo=timezone(timedelta(hours=1)))
        self.n = 0

    def person(self, fresh=True):
        """A known person; each one once for the messages that change something."""
        if fresh and self.unused:
            return self.unused.pop()
        return self.rng.choice(self.people)

    def unknown(self):
        first, last = self.rng.choice(UNKNOWN_FIRST), self.rng.choice(UNKNOWN_LAST)
        return (None, "%s.%s%d@example.net" % (first.lower(), last.lower(), self.rng.randrange(1000)), first, last)

    def body_part(self, text, attachment):
        """Headers and body of the message's content, in a randomly chosen encoding."""
        kind = self.rng.choices(["8bit", "qp", "latin1", "base64", "html", "alternative"], [30, 20, 10, 10, 15, 15])[0]
        html = "<html><body><div>%s</div></body></html>\n" % "</div><div>".join(
            line or "<br>" for line in text.split("\n"))
        if kind == "8bit":
            part = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + text + "\n"
        elif kind == "qp":
            part = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" + qp(text + "\n", "utf-8")
        elif kind == "latin1" and all(ord(c) < 256 for c in text):
            part = "Content-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" + qp(text + "\n", "iso-8859-1")
        elif kind in ("base64", "latin1"):
            part = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + b64((text + "\n").encode()) + "\n"
        elif kind == "html":
            part = "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" + qp(html, "utf-8")
        else:
            boundary = "alt-%d" % self.n
            part = ("Content-Type: multipart/alternative; boundary=\"%s\"\n\n--%s\n"
                    "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n%s\n"
                    "--%s\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n%s\n--%s--\n") % (
                boundary, boundary, qp(text + "\n", "utf-8"), boundary, qp(html, "utf-8"), boundary)
        if not attachment:
            return part
        boundary = "mixed-%d" % self.n
        size = self.rng.randrange(100_000, 400_000)
        pdf = b"%PDF-1.4\n" + self.rng.randbytes(size)
        return ("Content-Type: multipart/mixed; boundary=\"%s\"\n\n--%s\n%s\n--%s\n"
                "Content-Type: application/pdf; name=\"Scan.pdf\"\nContent-Disposition: attachment; filename=\"Scan.pdf\"\n"
                "Content-Transfer-Encoding: base64\n\n%s\n--%s--\n") % (
            boundary, boundary, part, boundary, b64(pdf), boundary)

    def message(self, sender, to, subject, text, dmarc_fail=False):
        self.n += 1
        self.when += timedelta(seconds=self.rng.randrange(30, 400))
        _, email, first, last = sender
        date = format_datetime(self.when)
        auth = "fail (p=QUARANTINE)" if dmarc_fail else "pass"
        domain = email.rsplit("@", 1)[1]
        greeting = self.rng.choice(["Sehr geehrte Damen und Herren,", "Guten Tag,", "Hallo,", "Dear Sir or Madam,"])
        body = "%s\n\n%s\n\nMit freundlichen Grüßen\n%s %s\n" % (greeting, text, first, last)
        attachment = self.rng.random() < 0.02
        head = (
            "Return-Path: <%s>\n"
            "Delivered-To: %s\n"
            "Received: from mail.%s (mail.%s [203.0.113.%d])\n"
            "\tby mx01.kommunal-it.example (Postfix) with ESMTPS id B%06d\n"
            "\tfor <%s>; %s\n"
            "Authentication-Results: mx01.kommunal-it.example; spf=pass smtp.mailfrom=%s; dmarc=%s header.from=%s\n"
            "From: %s <%s>\n"
            "To: %s\n"
            "Subject: %s\n"
            "Date: %s\n"
            "Message-ID: <bench-%06d.%d@%s>\n"
            "MIME-Version: 1.0\n"
        ) % (email, to, domain, domain, self.n % 250 + 1, self.n, to, date, domain, auth, domain,
             qword("%s %s" % (first, last)), email, to, qword(subject), date, self.n,
             self.rng.randrange(10**9), domain)
        raw = (head + self.body_part(body, attachment)).encode("utf-8")
        self.sent.append(raw)
        return raw

    def pick(self, kind):
        rng = self.rng
        if kind == "not_a_request":
            sender = self.person(fresh=False) if rng.random() < 0.7 else self.unknown()
            tenant = sender[0] or rng.choice(list(TENANTS))
            subject, text = rng.choice(QUESTIONS + AUTO_REPLIES + NEWSLETTERS)
            return self.message(sender, rng.choice(TENANTS[tenant]["withdrawal"]), subject, text)
        if kind == "not_addressed":
            sender = self.person(fresh=False) if rng.random() < 0.5 else self.unknown()
            tenant = sender[0] or rng.choice(list(TENANTS))
            subject, text = rng.choice(QUESTIONS + WITHDRAWALS + ACCESS)
            return self.message(sender, rng.choice(TENANTS[tenant]["other"]), subject, text)
        if kind in ("withdrawn", "sms_withdrawn", "access_request", "erasure_request", "review"):
            if kind == "sms_withdrawn":
                # SMS reminders exist at the contract tenants only.
                candidates = [p for p in self.unused if p[0] != "recklinghausen"]
                sender = candidates[-1] if candidates else self.person(fresh=False)
                if sender in self.unused:
                    self.unused.remove(sender)
            else:
                sender = self.person()
            texts = {"withdrawn": WITHDRAWALS, "sms_withdrawn": SMS, "access_request": ACCESS,
                     "erasure_request": ERASURE, "review": MIXED}[kind]
            subject, text = rng.choice(texts)
            spoofed = kind == "review" and rng.random() < 0.3
            if spoofed:
                subject, text = rng.choice(WITHDRAWALS)
            return self.message(sender, rng.choice(TENANTS[sender[0]]["withdrawal"]), subject, text, dmarc_fail=spoofed)
        if kind == "unmatched":
            tenant = rng.choice(list(TENANTS))
            subject, text = rng.choice(WITHDRAWALS + ACCESS)
            return self.message(self.unknown(), rng.choice(TENANTS[tenant]["withdrawal"]), subject, text)
        if kind == "unreadable":
            self.n += 1
            return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + self.rng.randbytes(200).replace(b"\n", b" ") + b"\n"
        if kind == "duplicate":
            if not self.sent:
                return self.pick("not_a_request")
            return self.rng.choice(self.sent)
        raise ValueError(kind)


def mbox_entry(raw):
    out = [b"From MAILER-DAEMON Mon Nov  2 07:00:00 2026\n"]
    for line in raw.splitlines(keepends=True):
        if line.lstrip(b">").startswith(b"From "):
            line = b">" + line
        out.append(line)
    if not raw.endswith(b"\n"):
        out.append(b"\n")
    out.append(b"\n")
    return b"".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", required=True, help="CSV: tenant,email,first_name,last_name")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=20261121)
    args = ap.parse_args()
    with open(args.people, newline="", encoding="utf-8") as f:
        people = [tuple(row) for row in csv.reader(f) if len(row) == 4 and row[0] in TENANTS]
    if not people:
        sys.exit("no people in %s" % args.people)
    gen = Generator(people, args.seed)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    intended = {k: 0 for k in kinds}
    size = 0
    with open(args.out, "wb") as out:
        for _ in range(args.count):
            kind = gen.rng.choices(kinds, weights)[0]
            entry = mbox_entry(gen.pick(kind))
            intended[kind] += 1
            size += len(entry)
            out.write(entry)
    print("%d messages, %.1f MB, %d known people; intended: %s" % (
        args.count, size / 1e6, len(people),
        ", ".join("%s %d" % (k, n) for k, n in intended.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
