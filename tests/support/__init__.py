"""Helpers the tests share: throwaway servers and processes, never mocks."""
