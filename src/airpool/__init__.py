"""airpool: Apache Airflow on a shared Kubernetes cluster, with a pool of pre-created namespaces."""

__version__ = "0.1.0"
