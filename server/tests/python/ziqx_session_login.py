import requests

# Step 1: Generate Session Token
body={
    "app_key": "your_app_key", 
    "app_secret": "your_app_secret"
     }
response = requests.post("https://account.ziqx.cc/session/generate/", json=body)

data = response.json()
session_id = data["session_id"]

# Step 2: Redirect User
redirect_url = data["base_url"] + data["token"]
# Implement redirect logic in your app

# Step 3: Validate Session
body = {"session_id": session_id}
validate_response = requests.post("https://account.ziqx.cc/session/validate/", json=body)

