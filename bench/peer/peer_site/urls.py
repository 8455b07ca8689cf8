from django.urls import path
from model_status.views import report_status

# The path of modelhooks' API, so that W1's producer posts here unchanged.
urlpatterns = [path("cloud/model_status", report_status)]
