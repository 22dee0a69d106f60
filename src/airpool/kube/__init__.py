"""The Kubernetes edge: the only package (with commander and devcluster) that opens connections to a cluster.

We use lightkube's synchronous client everywhere: commander runs jobs in worker threads, and one style keeps the
code and its tests simple.
"""
