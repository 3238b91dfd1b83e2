# jobsched: PGXS build.  `make && sudo make install`; tests: see README.md.
MODULE_big = jobsched
OBJS = src/jobsched.o src/api.o src/cron.o src/http.o src/store.o src/scheduler.o \
	src/stats.o src/netpolicy.o src/validate.o src/hosts.o src/textutil.o \
	src/syncwait.o src/signing.o
EXTENSION = jobsched
DATA = sql/jobsched--1.0.sql sql/jobsched--1.0--1.1.sql
PGFILEDESC = "jobsched - cron-scheduled HTTP jobs inside PostgreSQL"

REGRESS = cron_syntax api
REGRESS_OPTS = --temp-instance=$(CURDIR)/tmp_check_regress \
	--temp-config=$(srcdir)/test/regress.conf --load-extension=jobsched

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CPPFLAGS = -I$(srcdir)/src $(shell curl-config --cflags)
SHLIB_LINK = $(shell curl-config --libs) -lcrypto
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The cron engine has no PostgreSQL dependency: its unit tests build alone.
.PHONY: crontest
crontest:
	$(MAKE) -f test/Makefile.cron test

# PGXS does not track header dependencies: rebuild everything when one changes.
$(OBJS): $(wildcard $(srcdir)/src/*.h)
