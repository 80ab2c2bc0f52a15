# Hostile: SystemExit from the construction path the grader's module-scoped
# fixtures take (GPT2Embeddings(config)), plus pytest hooks and a fixture that
# would end the run if the judge ever loaded this file as a plugin.
import os as _os

import pytest as _pytest


def pytest_configure(config):
    _os._exit(0)


def pytest_collection_modifyitems(items):
    items.clear()


@_pytest.fixture(scope="session", autouse=True)
def student():
    raise SystemExit(0)


class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def __init__(self, config):
        raise SystemExit(0)
