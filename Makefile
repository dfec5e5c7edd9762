# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

.PHONY: demo test bench browser clean translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: set up, then run the main job on embedded defaults (SQLite + a local SMTP server);
## PORT=5001 serves the member web site on another port than 5000
demo: $(STAMP)
	$(BIN)/gll-mail demo --fresh$(if $(PORT), --port $(PORT))

## test: set up, then run the whole suite (PostgreSQL and browser tests included)
test: $(STAMP) browser
	$(BIN)/pytest -n auto -p no:cacheprovider

## browser: Debian's chromium for the Playwright tests (Playwright's own download does not work here),
## Debian's dovecot for the IMAP test, Debian's spamassassin for the spam-score test, systemd-analyze and nginx for
## the deploy/ checks; without root
## they skip locally, and fail CI (CI=true)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || { echo "could not install chromium (need root and the Debian mirror)"; \
	       if [ "$$CI" = "true" ]; then exit 1; else echo "the browser tests will skip"; fi; }; }
	@fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || { \
	  echo "Installing a CJK font so the screenshots show 中文"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null) \
	  || echo "could not install fonts-wqy-zenhei: screenshots show boxes for Chinese"; }
	@command -v dovecot >/dev/null 2>&1 || { \
	  echo "Installing Debian's dovecot-imapd for the IMAP bounce-scan test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null) \
	  || { echo "could not install dovecot-imapd (need root and the Debian mirror)"; \
	       if [ "$$CI" = "true" ]; then exit 1; else echo "the IMAP test will skip"; fi; }; }
	@command -v spamassassin >/dev/null 2>&1 || { \
	  echo "Installing Debian's spamassassin for the spam-score test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spamassassin >/dev/null) \
	  || { echo "could not install spamassassin (need root and the Debian mirror)"; \
	       if [ "$$CI" = "true" ]; then exit 1; else echo "the spam-score test will skip"; fi; }; }
	@command -v systemd-analyze >/dev/null 2>&1 || { \
	  echo "Installing Debian's systemd for the deploy/ unit check (systemd-analyze verify)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null) \
	  || { echo "could not install systemd (need root and the Debian mirror)"; \
	       if [ "$$CI" = "true" ]; then exit 1; else echo "the unit check will skip"; fi; }; }
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  echo "Installing Debian's nginx-light for the deploy/ server block check (nginx -t)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null) \
	  || { echo "could not install nginx-light (need root and the Debian mirror)"; \
	       if [ "$$CI" = "true" ]; then exit 1; else echo "the nginx check will skip"; fi; }; }

## translations: extract every member-facing message (Python, member pages, email layouts) into
## gll_mail/i18n/messages.pot, merge it into the six languages' messages.po, and compile the .mo files
## (docs/translating.md; the app also compiles a missing or stale .mo by itself)
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -c "Translators:" --add-location=file --sort-by-file -w 120 \
	  --project=gll-mail --version=$(VERSION) --msgid-bugs-address=gll4quhc@who.int --copyright-holder="World Health Organization" \
	  -o gll_mail/i18n/messages.pot .
	$(BIN)/pybabel update -i gll_mail/i18n/messages.pot -d gll_mail/i18n/locale -D messages -w 120 \
	  --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d gll_mail/i18n/locale -D messages --statistics

## bench: the benchmarks under bench/ (not part of the test suite)
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) demo-outbox subscribers.db subscribers.db-*
