-- One server, two databases: the feedback store (created by POSTGRES_DB) and MLflow's tracking store.
CREATE DATABASE mlflow OWNER farga;
