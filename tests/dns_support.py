"""A real DNS server over UDP on 127.0.0.1, in a thread: it answers TXT questions from a dict, and
other types (MX, A, PTR …) from ``typed``."""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class TxtServer:
    """``records`` maps a name (no trailing dot) to its TXT records, each a list of strings as a zone
    file would give them. Names not in it get NXDOMAIN; ``silent`` makes the server drop questions."""

    def __init__(self) -> None:
        self.records: dict[str, list[list[str]]] = {}
        self.typed: dict[tuple[str, str], list[str]] = {}  # (name, "MX") → ["10 mx.example.org."]
        self.silent = False
        self.questions: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TxtServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text().rstrip(".")
            self.questions.append(name)
            if self.silent:
                continue
            response = dns.message.make_response(query)
            asked = dns.rdatatype.to_text(question.rdtype)
            if name not in self.records and not any(known == name for known, _ in self.typed):
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif (name, asked) in self.typed:
                rdatas = [dns.rdata.from_text(dns.rdataclass.IN, question.rdtype, v) for v in self.typed[(name, asked)]]
                response.answer.append(dns.rrset.from_rdata_list(question.name, 300, rdatas))
            elif question.rdtype == dns.rdatatype.TXT and name in self.records:
                rdatas = [
                    dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, " ".join(f'"{part}"' for part in strings))
                    for strings in self.records[name]
                ]
                response.answer.append(dns.rrset.from_rdata_list(question.name, 300, rdatas))
            self._sock.sendto(response.to_wire(), peer)
